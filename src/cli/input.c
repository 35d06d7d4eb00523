/* SPDX-License-Identifier: MIT */
/* The input of an import: cli/input.h. */
#include "base/sys.h"
#include "cli/input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool cli_input_open(struct cli_input *in, const char *path, char *buf)
{
    bool is_stdin = strcmp(path, "-") == 0;
    *in = (struct cli_input){.name = is_stdin ? "stdin" : path, .buf = buf};
    in->fd = is_stdin ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
    if (in->fd < 0) {
        fprintf(stderr, "spoke: cannot open '%s': %s\n", in->name,
                strerror(errno));
        return false;
    }
    (void)posix_fadvise(in->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return true;
}

bool cli_input_fill(struct cli_input *in)
{
    memmove(in->buf, in->buf + in->pos, in->len - in->pos);
    in->len -= in->pos;
    in->pos = 0;
    for (;;) {
        ssize_t n = read(in->fd, in->buf + in->len, CLI_INPUT_BYTES - in->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "spoke: cannot read '%s': %s\n", in->name,
                    strerror(errno));
            return false;
        }
        in->len += (size_t)n;
        in->eof = n == 0;
        return true;
    }
}

void cli_input_close(struct cli_input *in)
{
    if (in->fd >= 0)
        close(in->fd);
    in->fd = -1;
}
