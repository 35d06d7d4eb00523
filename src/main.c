/* SPDX-License-Identifier: MIT */
/* The only main(): `spoke <subcommand> [options]`. */
#include "base/sys.h"
#include "cli/cli.h"

#include <stdio.h>

#define SPOKE_VERSION "0.1.0"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"serve", cmd_serve, "serve the HTTP API and the lock gateway"},
    {"demo", cmd_demo, "run a small seeded city to ride with curl"},
    {"token", cmd_token, "create an operator token (token create)"},
    {"sim", cmd_sim, "simulated smart locks (sim locks)"},
    {"import", cmd_import, "load bikes or trip history (import bikes|trips)"},
    {"forecast", cmd_forecast, "demand forecast and its backtest"},
    {"plan", cmd_plan, "plan rebalancing truck routes (BRP instance)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: spoke <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-8s %s\n\nspoke <command> --help shows its options.\n",
            "version", "print the version");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("spoke %s\n", SPOKE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc, argv);
    }
    /* Started by the server itself, so not in the list. */
    if (strcmp(argv[1], "gateway-worker") == 0)
        return cmd_gateway_worker(argc, argv);
    fprintf(stderr, "spoke: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
