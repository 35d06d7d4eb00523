/* SPDX-License-Identifier: MIT */
/* `spoke serve`: the API and the lock gateway on the embedded store. */
#include "base/sys.h"
#include "cli/cli.h"
#include "base/log.h"

#include <stdio.h>

int cmd_serve(int argc, char **argv)
{
    const char *http = NULL, *locks = NULL, *db = NULL, *config = NULL,
               *level = NULL, *workers = NULL;
    const struct cli_opt opts[] = {
        {"--http", "HOST:PORT", "HTTP API address (default 127.0.0.1:8080)",
         &http, NULL},
        {"--locks", "HOST:PORT",
         "lock gateway address (default 127.0.0.1:9000)", &locks, NULL},
        {"--db", "PATH", "SQLite database (default spoke.db)", &db, NULL},
        {"--config", "FILE", "JSON config file; flags override it", &config,
         NULL},
        {"--log-level", "LEVEL", "debug, info, warn or error", &level, NULL},
        {"--gateway-workers", "N",
         "lock sessions in N worker processes (default 0: in this one)",
         &workers, NULL},
    };
    int rc = cli_parse("spoke serve [options]",
                       "Serves the rider and operator HTTP API and the smart-"
                       "lock gateway,\nwith the live fleet rebuilt from the "
                       "database.",
                       argc, argv, 2, opts, ARRAY_LEN(opts));
    if (rc)
        return rc == 2 ? 0 : 2;
    struct cli_server_config c;
    cli_server_config_default(&c);
    int exit_code = 1;
    if (config && !cli_server_config_load(&c, config))
        goto out;
    if (http)
        c.http = http;
    if (locks)
        c.locks = locks;
    if (db)
        c.svc.db_path = db;
    int64_t nworkers;
    if (workers) {
        if (!cli_i64("--gateway-workers", workers, 0, GATEWAY_WORKERS_MAX,
                     &nworkers))
            goto out;
        c.gw.workers = (size_t)nworkers;
    }
    if (level) {
        enum log_level lv;
        if (!log_level_parse(level, &lv)) {
            fprintf(stderr, "spoke: --log-level must be debug, info, warn "
                            "or error\n");
            goto out;
        }
        log_set_level(lv);
    }
    struct cli_server *srv;
    if (!cli_server_start(&c, &srv))
        goto out;
    exit_code = cli_server_run(srv);
out:
    cli_server_config_release(&c);
    return exit_code;
}
