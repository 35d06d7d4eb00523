/* SPDX-License-Identifier: MIT */
/* Command-line option parsing shared by the subcommands. */
#include "base/sys.h"
#include "cli/cli.h"
#include "base/str.h"

#include <stdio.h>

static void usage_print(const char *usage, const char *summary,
                        const struct cli_opt *opts, size_t n)
{
    printf("usage: %s\n\n%s\n\noptions:\n", usage, summary);
    for (size_t i = 0; i < n; i++) {
        char left[64];
        snprintf(left, sizeof(left), "%s%s%s", opts[i].name,
                 opts[i].arg ? " " : "", opts[i].arg ? opts[i].arg : "");
        printf("  %-26s %s\n", left, opts[i].help);
    }
    printf("  %-26s %s\n", "--help", "show this help");
}

int cli_parse(const char *usage, const char *summary, int argc, char **argv,
              int first, const struct cli_opt *opts, size_t n)
{
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage_print(usage, summary, opts, n);
            return 2;
        }
        const char *eq = strchr(a, '=');
        size_t name_len = eq ? (size_t)(eq - a) : strlen(a);
        const struct cli_opt *o = NULL;
        for (size_t j = 0; j < n; j++) {
            if (strlen(opts[j].name) == name_len &&
                memcmp(opts[j].name, a, name_len) == 0)
                o = &opts[j];
        }
        if (!o) {
            fprintf(stderr, "spoke: unknown option '%s' (see --help)\n", a);
            return 1;
        }
        if (!o->arg) {
            if (eq) {
                fprintf(stderr, "spoke: option '%s' takes no value\n", o->name);
                return 1;
            }
            *o->flag = true;
            continue;
        }
        if (eq) {
            *o->str = eq + 1;
        } else if (i + 1 < argc) {
            *o->str = argv[++i];
        } else {
            fprintf(stderr, "spoke: option '%s' needs a value %s\n", o->name,
                    o->arg);
            return 1;
        }
    }
    return 0;
}

bool cli_i64(const char *opt, const char *s, int64_t min, int64_t max,
             int64_t *out)
{
    int64_t v;
    if (str_to_i64(str_from_cstr(s), &v) != ERR_OK || v < min || v > max) {
        fprintf(stderr,
                "spoke: option '%s' must be an integer from %" PRId64
                " to %" PRId64 ", not '%s'\n",
                opt, min, max, s);
        return false;
    }
    *out = v;
    return true;
}
