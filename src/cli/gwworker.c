/* SPDX-License-Identifier: MIT */
/*
 * `spoke gateway-worker`: a lock gateway worker process, started by the
 * server itself (gateway_workers in the config); not for people to run.
 */
#include "base/sys.h"
#include "cli/cli.h"

#include <stdio.h>

int cmd_gateway_worker(int argc, char **argv)
{
    const char *ipc = NULL, *listen = NULL, *login = NULL, *idle = NULL,
               *bad = NULL, *max = NULL, *index = NULL;
    const struct cli_opt opts[] = {
        {"--ipc-fd", "FD", "socket to the server", &ipc, NULL},
        {"--listen-fd", "FD", "the shared listening socket", &listen, NULL},
        {"--login-timeout-ms", "MS", "", &login, NULL},
        {"--idle-timeout-ms", "MS", "", &idle, NULL},
        {"--max-bad-frames", "N", "", &bad, NULL},
        {"--max-sessions", "N", "", &max, NULL},
        {"--index", "N", "which worker this is (for logs)", &index, NULL},
    };
    int rc = cli_parse("spoke gateway-worker --ipc-fd FD --listen-fd FD ...",
                       "A lock gateway worker; the server starts these.", argc,
                       argv, 2, opts, ARRAY_LEN(opts));
    if (rc)
        return rc == 2 ? 0 : 2;
    struct gateway_config cfg;
    gateway_config_default(&cfg);
    int64_t ipc_fd, listen_fd, v;
    if (!ipc || !listen || !cli_i64("--ipc-fd", ipc, 0, 65535, &ipc_fd) ||
        !cli_i64("--listen-fd", listen, 0, 65535, &listen_fd))
        return 2;
    if (login) {
        if (!cli_i64("--login-timeout-ms", login, 1, INT64_MAX, &v))
            return 2;
        cfg.login_timeout_ms = v;
    }
    if (idle) {
        if (!cli_i64("--idle-timeout-ms", idle, 1, INT64_MAX, &v))
            return 2;
        cfg.idle_timeout_ms = v;
    }
    if (bad) {
        if (!cli_i64("--max-bad-frames", bad, 0, INT64_MAX, &v))
            return 2;
        cfg.max_bad_frames = (size_t)v;
    }
    if (max) {
        if (!cli_i64("--max-sessions", max, 1, INT64_MAX, &v))
            return 2;
        cfg.max_sessions = (size_t)v;
    }
    return gateway_worker_run((int)ipc_fd, (int)listen_fd, &cfg);
}
