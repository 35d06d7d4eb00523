/* SPDX-License-Identifier: MIT */
/*
 * Running a server: the loop, the service, the lock gateway and the HTTP
 * API wired together, serving until SIGINT or SIGTERM.
 */
#include "base/sys.h"
#include "cli/cli.h"
#include "api/api.h"
#include "base/log.h"
#include "net/loop.h"

#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct cli_server {
    struct net_loop *loop;
    struct svc *svc;
    struct gateway *gw;
    struct api_server *api;
    struct net_io sig_io;
    int sigfd;
};

static void on_signal(struct net_io *io, unsigned events)
{
    struct cli_server *srv = io->ctx;
    struct signalfd_siginfo si;
    (void)events;
    if (read(srv->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        log_emit(LOG_INFO, "stopping",
                 LOG_FIELDS(LOG_I64("signal", (int64_t)si.ssi_signo)));
    net_loop_stop(srv->loop);
}

/* Signals arrive through a signalfd; threads started later inherit the mask. */
static int block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

void cli_server_free(struct cli_server *srv)
{
    if (!srv)
        return;
    api_server_free(srv->api);
    gateway_free(srv->gw);
    svc_free(srv->svc);
    if (srv->sigfd >= 0) {
        net_io_stop(srv->loop, &srv->sig_io);
        close(srv->sigfd);
    }
    net_loop_free(srv->loop);
    xfree(srv);
}

bool cli_server_start(const struct cli_server_config *c,
                      struct cli_server **out)
{
    struct cli_server *srv = xcalloc(1, sizeof(*srv));
    struct err_detail d;
    err_clear(&d);
    srv->sigfd = block_signals();
    enum err e = net_loop_new(&srv->loop, &d);
    if (e == ERR_OK)
        e = svc_new(srv->loop, &c->svc, &srv->svc, &d);
    if (e == ERR_OK) {
        struct gateway_config gw = c->gw;
        gw.listen = c->locks;
        e = gateway_new(srv->loop, &gw, svc_gateway_ops(), srv->svc, &srv->gw,
                        &d);
    }
    if (e == ERR_OK) {
        svc_set_gateway(srv->svc, srv->gw);
        e = api_server_new(srv->loop, srv->svc, srv->gw, c->http, &srv->api,
                           &d);
    }
    if (e == ERR_OK && srv->sigfd >= 0 &&
        net_io_start(srv->loop, &srv->sig_io, srv->sigfd, NET_READ, on_signal,
                     srv) != ERR_OK)
        e = err_set(&d, ERR_IO, "", "cannot watch signals");
    if (e != ERR_OK) {
        fprintf(stderr, "spoke: %s\n", d.msg[0] ? d.msg : err_name(e));
        cli_server_free(srv);
        return false;
    }
    log_emit(LOG_INFO, "listening",
             LOG_FIELDS(LOG_STR("http", api_server_address(srv->api)),
                        LOG_STR("locks", gateway_address(srv->gw)),
                        LOG_STR("db", c->svc.db_path)));
    *out = srv;
    return true;
}

struct svc *cli_server_svc(const struct cli_server *srv)
{
    return srv->svc;
}

const char *cli_server_http(const struct cli_server *srv)
{
    return api_server_address(srv->api);
}

const char *cli_server_locks(const struct cli_server *srv)
{
    return gateway_address(srv->gw);
}

int cli_server_run(struct cli_server *srv)
{
    enum err e = net_loop_run(srv->loop);
    bool failed = svc_has_failed(srv->svc) || e != ERR_OK;
    cli_server_free(srv);
    log_emit(failed ? LOG_ERROR : LOG_INFO, "stopped",
             LOG_FIELDS(LOG_BOOL("clean", !failed)));
    return failed ? 1 : 0;
}
