/* SPDX-License-Identifier: MIT */
/*
 * The HTTP/JSON API v1 server: HTTP/1.1 with keep-alive and pipelining on
 * the service's loop, requests parsed by libhttp-parser, JSON by jansson.
 * See docs/api.md for the routes.
 */
#ifndef API_API_H
#define API_API_H

#include "base/sys.h"
#include "base/err.h"
#include "net/loop.h"
#include "svc/svc.h"

struct api_server;
struct gateway;

/*
 * Listens on addr ("HOST:PORT", port 0 for any free port) and serves the
 * API from svc on loop. gw (may be NULL) feeds the lock figures of
 * /metrics. ERR_INVALID / ERR_IO if the address cannot be used.
 */
enum err api_server_new(struct net_loop *loop, struct svc *svc,
                        struct gateway *gw, const char *addr,
                        struct api_server **out, struct err_detail *d);

/* The bound address as "HOST:PORT". */
const char *api_server_address(const struct api_server *srv);

/* Closes the listener and every connection; NULL is a no-op. */
void api_server_free(struct api_server *srv);

#endif
