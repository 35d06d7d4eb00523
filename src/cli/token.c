/* SPDX-License-Identifier: MIT */
/* `spoke token create`: operator tokens, stored hashed in the database. */
#include "base/sys.h"
#include "cli/cli.h"
#include "base/clock.h"
#include "store/store.h"

#include <sodium.h>
#include <stdio.h>

bool cli_token_create(const char *db, const char *label, char *token,
                      size_t cap)
{
    unsigned char hash[CORE_TOKEN_HASH_BYTES];
    ASSERT(cap >= SVC_TOKEN_LEN);
    if (sodium_init() < 0) {
        fprintf(stderr, "spoke: cannot initialise libsodium\n");
        return false;
    }
    svc_token_new(token, hash);
    struct store *st = NULL;
    struct err_detail d;
    err_clear(&d);
    int64_t id;
    enum err e = store_open(db, &st, &d);
    if (e == ERR_OK)
        e = store_token_create(st, hash, STORE_ROLE_OPERATOR, label,
                               clock_wall_ms(), &id, &d);
    store_close(st);
    if (e != ERR_OK) {
        fprintf(stderr, "spoke: cannot create a token in '%s': %s\n", db,
                d.msg[0] ? d.msg : err_name(e));
        return false;
    }
    return true;
}

int cmd_token(int argc, char **argv)
{
    const char *role = NULL, *db = NULL, *label = "";
    const struct cli_opt opts[] = {
        {"--role", "ROLE", "the token's role: operator", &role, NULL},
        {"--db", "PATH", "SQLite database (default spoke.db)", &db, NULL},
        {"--label", "TEXT", "who or what the token is for", &label, NULL},
    };
    const char *usage = "spoke token create --role operator [--db PATH]";
    const char *summary = "Creates an operator token and prints it on stdout. "
                          "Only its hash is stored;\nkeep the token secret.";
    if (argc < 3 || strcmp(argv[2], "create") != 0) {
        if (argc >= 3 && strcmp(argv[2], "--help") == 0)
            return cli_parse(usage, summary, argc, argv, 2, opts,
                             ARRAY_LEN(opts)) == 2
                       ? 0
                       : 2;
        fprintf(stderr, "usage: %s\n", usage);
        return 2;
    }
    int rc = cli_parse(usage, summary, argc, argv, 3, opts, ARRAY_LEN(opts));
    if (rc)
        return rc == 2 ? 0 : 2;
    if (!role || strcmp(role, "operator") != 0) {
        fprintf(stderr, "spoke: --role operator is required (the only "
                        "role a token can have; riders sign up through "
                        "the API)\n");
        return 2;
    }
    if (strlen(label) > 64) {
        fprintf(stderr, "spoke: --label is at most 64 bytes\n");
        return 2;
    }
    char token[SVC_TOKEN_LEN];
    if (!cli_token_create(db ? db : "spoke.db", label, token, sizeof(token)))
        return 1;
    printf("%s\n", token);
    return 0;
}
