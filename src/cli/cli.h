/* SPDX-License-Identifier: MIT */
/*
 * The subcommands of `spoke` (one file each, exporting cmd_<name>) and the
 * helpers they share: option parsing, the server configuration, and
 * running a server until a signal.
 */
#ifndef CLI_CLI_H
#define CLI_CLI_H

#include "base/sys.h"
#include "base/err.h"
#include "gateway/gateway.h"
#include "svc/svc.h"

int cmd_serve(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_forecast(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_gateway_worker(int argc, char **argv);

/* One command-line option: --name VALUE (str) or --name (flag). */
struct cli_opt {
    const char *name; /* "--http" */
    const char *arg;  /* "HOST:PORT", or NULL for a flag */
    const char *help;
    const char **str;
    bool *flag;
};

/*
 * Parses argv[first..argc) against opts (also "--name=VALUE"). Prints usage
 * and the options for --help and returns 2; prints a message for an unknown
 * option or a missing value and returns 1; 0 on success.
 */
int cli_parse(const char *usage, const char *summary, int argc, char **argv,
              int first, const struct cli_opt *opts, size_t n);

/* Parses s as an integer in [min, max] for option opt; prints if not. */
bool cli_i64(const char *opt, const char *s, int64_t min, int64_t max,
             int64_t *out);

/* Everything `spoke serve` runs with. */
struct cli_server_config {
    const char *http;
    const char *locks;
    struct svc_config svc;
    struct gateway_config gw;
    char *owned[4]; /* strings the config file provided */
};

/* Defaults: http 127.0.0.1:8080, locks 127.0.0.1:9000, db spoke.db. */
void cli_server_config_default(struct cli_server_config *c);

/*
 * Reads a JSON config file into c (keys documented in docs/operations.md).
 * Prints a message naming the file and key and returns false on error.
 */
bool cli_server_config_load(struct cli_server_config *c, const char *path);

/* Frees what the config file allocated. */
void cli_server_config_release(struct cli_server_config *c);

struct cli_server;

/*
 * Opens the store, rebuilds the world, and starts the lock gateway and the
 * HTTP API on their own loop in the calling thread. Logs the bound
 * addresses. Prints a message and returns false on failure.
 */
bool cli_server_start(const struct cli_server_config *c,
                      struct cli_server **out);

/* The running service, to seed it (the demo). */
struct svc *cli_server_svc(const struct cli_server *srv);

/* The bound addresses. */
const char *cli_server_http(const struct cli_server *srv);
const char *cli_server_locks(const struct cli_server *srv);

/*
 * Serves until SIGINT or SIGTERM (or a fatal store failure), then stops and
 * frees everything. Returns the process exit code.
 */
int cli_server_run(struct cli_server *srv);

/* Frees a server that was started but will not run. */
void cli_server_free(struct cli_server *srv);

/* A fleet of simulated locks on a loop of its own (sim.c). */
struct cli_simfleet;
struct sim_lock_config;

/*
 * Prepares n simulated locks (configs copied) that connect to the gateway
 * at addr, from the source addresses in sources (NULL: any). NULL (and a
 * message) on failure.
 */
struct cli_simfleet *cli_simfleet_new(const char *addr, const char *sources,
                                      const struct sim_lock_config *cfgs,
                                      size_t n, uint64_t seed);
/* Runs the fleet on a new thread. */
bool cli_simfleet_start_thread(struct cli_simfleet *f);
/* Stops the thread if any, closes the connections, frees; NULL no-op. */
void cli_simfleet_free(struct cli_simfleet *f);
/*
 * Fills up to cap lock configs (base plus IMEI and position) from the bikes
 * in the database at db, after the first skip; returns how many.
 */
size_t cli_simfleet_from_db(const char *db, const struct sim_lock_config *base,
                            size_t skip, struct sim_lock_config *cfgs,
                            size_t cap);

/* Creates an operator token in the store at db; prints errors. */
bool cli_token_create(const char *db, const char *label, char *token,
                      size_t cap);

#endif
