/* SPDX-License-Identifier: MIT */
/*
 * Unit-test runner. Runs every case of every suite in list.h in a forked
 * child with a timeout, or only the cases named on the command line. Prints
 * one line per case and ends with "N passed, N failed".
 */
#include "base/sys.h"
#include "tests/unit/harness.h"
#include "base/log.h"
#include "cli/cli.h"

#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#define SUITE(name) extern const struct test_case test_suite_##name[];
#include "tests/unit/list.h" /* generated in build/ */
#undef SUITE

static const struct test_case *const suites[] = {
#define SUITE(name) test_suite_##name,
#include "tests/unit/list.h"
#undef SUITE
};

#define TEST_TIMEOUT_S 60

static char tmpdir[64];

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "  %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

const char *test_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/spoke-unit-XXXXXX");
        if (!mkdtemp(tmpdir))
            test_fail(__FILE__, __LINE__, "cannot create a temporary dir");
    }
    return tmpdir;
}

static bool run_case(const struct test_case *c)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return false;
    }
    if (pid == 0) {
        alarm(TEST_TIMEOUT_S);
        c->fn();
        if (tmpdir[0]) {
            char cmd[96];
            snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
            if (system(cmd) != 0)
                fprintf(stderr, "  cannot remove %s\n", tmpdir);
        }
        exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        ;
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (WIFSIGNALED(status))
        fprintf(stderr, "  killed by signal %d%s\n", WTERMSIG(status),
                WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
    printf("%s %s\n", ok ? "ok  " : "FAIL", c->name);
    return ok;
}

static bool wanted(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], name) == 0)
            return true;
    }
    return false;
}

int main(int argc, char **argv)
{
    /* The gateway tests start this binary as their worker processes. */
    if (argc > 1 && strcmp(argv[1], "gateway-worker") == 0)
        return cmd_gateway_worker(argc, argv);
    size_t passed = 0, failed = 0;
    /* The code under test logs; keep the report readable. */
    if (!getenv("SPOKE_TEST_LOG"))
        log_set_level(LOG_ERROR);
    for (size_t s = 0; s < ARRAY_LEN(suites); s++) {
        for (const struct test_case *c = suites[s]; c->name; c++) {
            if (!wanted(c->name, argc, argv))
                continue;
            if (run_case(c))
                passed++;
            else
                failed++;
        }
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    return failed ? 1 : 0;
}
