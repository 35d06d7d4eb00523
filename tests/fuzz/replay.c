/* SPDX-License-Identifier: MIT */
/*
 * A main() for libFuzzer targets, so gcc builds can replay a corpus as a
 * regression test: each argument is a file or a directory of files, and each
 * file is passed once to LLVMFuzzerTestOneInput.
 */
#include "base/sys.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 1 << 20;
    uint8_t *data = xmalloc(cap);
    size_t n = fread(data, 1, cap, f);
    fclose(f);
    LLVMFuzzerTestOneInput(data, n);
    xfree(data);
    return 0;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            rc |= replay_file(argv[i]);
            count++;
            continue;
        }
        DIR *dir = opendir(argv[i]);
        if (!dir) {
            perror(argv[i]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            rc |= replay_file(path);
            count++;
        }
        closedir(dir);
    }
    printf("replayed %zu inputs\n", count);
    return rc;
}
