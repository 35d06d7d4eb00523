/* SPDX-License-Identifier: MIT */
/*
 * HTTP/1.1 connections: parsing with libhttp-parser, the per-connection
 * pipeline of requests, and responses written in request order once the
 * writes they acknowledge are durable.
 */
#include "base/sys.h"
#include "api/api_int.h"
#include "base/log.h"
#include "net/tcp.h"

#include <http_parser.h>
#include <stdio.h>

#define HTTP_URL_MAX 2048
#define HTTP_HEADERS_MAX 8192
#define HTTP_BODY_MAX 65536
#define HTTP_PIPELINE_MAX 32
#define HTTP_OUT_MAX (4u << 20)
#define HTTP_IDLE_MS 60000
#define HTTP_REQUEST_MS 30000
#define HTTP_SWEEP_MS 5000
#define HTTP_CONNS_MAX 10000
#define HTTP_POOL_MAX 256 /* finished entries kept for reuse */

enum hdr { HDR_OTHER, HDR_AUTH, HDR_CTYPE, HDR_IDEM, HDR_EXPECT };

struct entry {
    struct entry *next;
    struct arena arena;
    struct api_req req;
    struct api_resp resp;
    bool close_after;
};

struct conn {
    struct api_server *srv;
    struct net_conn *nc;
    struct conn *prev, *next; /* all connections */
    struct conn *wait_next;   /* connections whose head waits on the lsn */
    bool waiting;
    bool closed;
    bool eof;
    http_parser parser;
    struct entry *cur; /* the request being parsed */
    int64_t cur_start_ms;
    struct entry *head, *tail;
    size_t npending;
    /* Parse state of the current request. */
    struct buf url;
    struct buf body;
    char hname[24];
    size_t hname_len;
    enum hdr hkind;
    struct buf hval;
    bool in_value;
    size_t header_bytes;
    bool expect_continue; /* the request sent Expect: 100-continue */
    int fail_status;      /* set by a callback that aborts the parse */
    const char *fail_code;
};

struct api_server {
    struct net_loop *loop;
    struct net_listener *listener;
    char addr[64];
    struct api_ctx ctx;
    struct api_stats stats;
    struct conn *conns;
    size_t nconns;
    struct conn *waiting;
    struct net_timer sweep;
    http_parser_settings settings;
    struct entry *pool; /* finished entries, arenas reset, for reuse */
    size_t npool;
};

static void entry_free(struct entry *e)
{
    arena_release(&e->arena);
    xfree(e);
}

static struct entry *entry_new(struct api_server *srv)
{
    struct entry *e = srv->pool;
    if (e) {
        srv->pool = e->next;
        srv->npool--;
    } else {
        e = xmalloc(sizeof(*e));
        arena_init(&e->arena);
    }
    /* The arena (and its first chunk) survives from the last use. */
    struct arena arena = e->arena;
    memset(e, 0, sizeof(*e));
    e->arena = arena;
    e->req.arena = &e->arena;
    e->resp.status = 500;
    return e;
}

/* Gives a finished entry back to the pool, or frees it if the pool is full. */
static void entry_recycle(struct api_server *srv, struct entry *e)
{
    if (srv->npool >= HTTP_POOL_MAX) {
        entry_free(e);
        return;
    }
    arena_reset(&e->arena);
    e->next = srv->pool;
    srv->pool = e;
    srv->npool++;
}

static void reset_parse_state(struct conn *c)
{
    buf_release(&c->url);
    buf_release(&c->body);
    buf_release(&c->hval);
    c->hname_len = 0;
    c->hkind = HDR_OTHER;
    c->in_value = false;
    c->header_bytes = 0;
    c->expect_continue = false;
}

/* Response writing */

static void send_entry(struct conn *c, struct entry *e)
{
    struct api_resp *r = &e->resp;
    char head[1024];
    int n =
        snprintf(head, sizeof(head),
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                 "Content-Length: %zu\r\n%s",
                 r->status, api__status_text(r->status),
                 r->content_type ? r->content_type : "application/json",
                 r->body.len, e->close_after ? "Connection: close\r\n" : "");
    ASSERT(n > 0 && (size_t)n < sizeof(head));
    size_t len = (size_t)n;
    for (size_t i = 0; i < r->nextra; i++) {
        n = snprintf(head + len, sizeof(head) - len, "%s\r\n",
                     r->extra_headers[i]);
        ASSERT(n > 0 && (size_t)n < sizeof(head) - len);
        len += (size_t)n;
    }
    ASSERT(len + 2 < sizeof(head));
    head[len++] = '\r';
    head[len++] = '\n';
    bool with_body = e->req.method != API_HEAD;
    size_t total = len + (with_body ? r->body.len : 0);
    char *wire = arena_alloc(&e->arena, total);
    memcpy(wire, head, len);
    if (with_body && r->body.len)
        memcpy(wire + len, r->body.ptr, r->body.len);
    c->srv->stats.by_class[r->status / 100 % 6]++;
    net_conn_write(c->nc, wire, total);
}

static void wait_for_durable(struct conn *c)
{
    if (c->waiting)
        return;
    c->waiting = true;
    c->wait_next = c->srv->waiting;
    c->srv->waiting = c;
}

/* Sends every response at the head of the queue that may go. */
static void flush_ready(struct conn *c)
{
    uint64_t durable = svc_durable_lsn(c->srv->ctx.svc);
    while (c->head && !c->closed) {
        struct entry *e = c->head;
        if (e->resp.wait_lsn > durable) {
            wait_for_durable(c);
            return;
        }
        c->head = e->next;
        if (!c->head)
            c->tail = NULL;
        c->npending--;
        send_entry(c, e);
        bool close_after = e->close_after;
        entry_recycle(c->srv, e);
        if (close_after) {
            if (!c->closed)
                net_conn_close_after_write(c->nc);
            return;
        }
    }
    if (c->closed)
        return;
    if (c->eof && !c->head && !c->cur) {
        net_conn_close_after_write(c->nc);
        return;
    }
    /* Room in the pipeline again: resume reading if we paused it. */
    if (!c->eof && c->npending < HTTP_PIPELINE_MAX)
        net_conn_read_enable(c->nc, true);
}

static void enqueue(struct conn *c, struct entry *e)
{
    e->next = NULL;
    if (c->tail)
        c->tail->next = e;
    else
        c->head = e;
    c->tail = e;
    c->npending++;
}

static void on_durable(void *ctx, uint64_t durable_lsn)
{
    struct api_server *srv = ctx;
    (void)durable_lsn;
    struct conn *list = srv->waiting;
    srv->waiting = NULL;
    while (list) {
        struct conn *c = list;
        list = c->wait_next;
        c->waiting = false;
        if (!c->closed)
            flush_ready(c);
    }
}

/* Parser callbacks */

static struct conn *conn_of(http_parser *p)
{
    return p->data;
}

static int fail(struct conn *c, int status, const char *code)
{
    c->fail_status = status;
    c->fail_code = code;
    return -1;
}

static int on_message_begin(http_parser *p)
{
    struct conn *c = conn_of(p);
    reset_parse_state(c);
    c->cur = entry_new(c->srv);
    c->cur_start_ms = net_loop_now_ms(c->srv->loop);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct conn *c = conn_of(p);
    if (buf_append(&c->url, at, len) != ERR_OK)
        return fail(c, 414, "uri_too_long");
    return 0;
}

static enum hdr classify(const struct conn *c)
{
    struct str name = {c->hname, c->hname_len};
    if (str_eq_nocase(name, "authorization"))
        return HDR_AUTH;
    if (str_eq_nocase(name, "content-type"))
        return HDR_CTYPE;
    if (str_eq_nocase(name, "idempotency-key"))
        return HDR_IDEM;
    if (str_eq_nocase(name, "expect"))
        return HDR_EXPECT;
    return HDR_OTHER;
}

/* Stores the header just completed if it is one we use. */
static void finish_header(struct conn *c)
{
    if (!c->in_value)
        return;
    struct api_req *req = &c->cur->req;
    struct str v = {NULL, 0};
    if (c->hkind != HDR_OTHER) {
        char *copy = arena_strndup(req->arena, c->hval.data ? c->hval.data : "",
                                   c->hval.len);
        v = (struct str){copy, c->hval.len};
    }
    switch (c->hkind) {
    case HDR_AUTH:
        req->authorization = v;
        break;
    case HDR_CTYPE:
        req->content_type = v;
        break;
    case HDR_IDEM:
        req->idem_key = v;
        req->has_idem_key = true;
        break;
    case HDR_EXPECT:
        c->expect_continue = str_eq_nocase(v, "100-continue");
        break;
    case HDR_OTHER:
        break;
    }
    buf_reset(&c->hval);
    c->hname_len = 0;
    c->in_value = false;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct conn *c = conn_of(p);
    finish_header(c);
    c->header_bytes += len;
    if (c->header_bytes > HTTP_HEADERS_MAX)
        return fail(c, 431, "headers_too_large");
    /* Names longer than any we use are kept truncated: they never match. */
    size_t room = sizeof(c->hname) - c->hname_len;
    size_t n = MIN(len, room);
    memcpy(c->hname + c->hname_len, at, n);
    c->hname_len += n;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct conn *c = conn_of(p);
    if (!c->in_value) {
        c->in_value = true;
        c->hkind = c->hname_len < sizeof(c->hname) ? classify(c) : HDR_OTHER;
    }
    c->header_bytes += len;
    if (c->header_bytes > HTTP_HEADERS_MAX)
        return fail(c, 431, "headers_too_large");
    if (c->hkind != HDR_OTHER && buf_append(&c->hval, at, len) != ERR_OK)
        return fail(c, 431, "headers_too_large");
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct conn *c = conn_of(p);
    finish_header(c);
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > HTTP_BODY_MAX)
        return fail(c, 413, "body_too_large");
    /*
     * A client waiting to send its body gets the interim answer, unless
     * earlier responses are still queued (they must go first).
     */
    if (c->expect_continue && !c->head)
        net_conn_write(c->nc, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct conn *c = conn_of(p);
    if (buf_append(&c->body, at, len) != ERR_OK)
        return fail(c, 413, "body_too_large");
    return 0;
}

static int on_message_complete(http_parser *p)
{
    /* Stop here so the request is handled before the next one parses. */
    http_parser_pause(p, 1);
    return 0;
}

static enum api_method method_of(unsigned m)
{
    switch (m) {
    case HTTP_GET:
        return API_GET;
    case HTTP_POST:
        return API_POST;
    case HTTP_PUT:
        return API_PUT;
    case HTTP_DELETE:
        return API_DELETE;
    case HTTP_PATCH:
        return API_PATCH;
    case HTTP_HEAD:
        return API_HEAD;
    default:
        return API_OTHER;
    }
}

/* Runs the handler of the request just parsed and queues its response. */
static void complete_request(struct conn *c)
{
    struct entry *e = c->cur;
    c->cur = NULL;
    struct api_req *req = &e->req;
    req->method = method_of(c->parser.method);
    char *url =
        arena_strndup(&e->arena, c->url.data ? c->url.data : "", c->url.len);
    struct str u = {url, c->url.len};
    struct str path;
    struct str query = str_cut(u, '?', &path);
    req->path = path;
    req->query = query.ptr ? query : (struct str){"", 0};
    req->body = (struct str){
        arena_strndup(&e->arena, c->body.data ? c->body.data : "", c->body.len),
        c->body.len};
    e->close_after = !http_should_keep_alive(&c->parser);
    reset_parse_state(c);
    c->srv->stats.requests++;
    api_handler_fn *h = api__route(req, &e->resp);
    if (h)
        h(&c->srv->ctx, req, &e->resp);
    enqueue(c, e);
    flush_ready(c);
}

/* Queues a problem for a request that could not be parsed, then closes. */
static void reject(struct conn *c, int status, const char *code,
                   const char *msg)
{
    struct entry *e = c->cur ? c->cur : entry_new(c->srv);
    c->cur = NULL;
    e->req.method = API_GET;
    e->close_after = true;
    c->srv->stats.parse_errors++;
    api__reply_problem(&e->req, &e->resp, status, code, NULL, "%s", msg);
    reset_parse_state(c);
    net_conn_read_enable(c->nc, false);
    enqueue(c, e);
    flush_ready(c);
}

static size_t conn_on_data(struct net_conn *nc, const char *data, size_t len)
{
    struct conn *c = net_conn_ctx(nc);
    size_t off = 0;
    while (off < len && !c->closed) {
        if (c->npending >= HTTP_PIPELINE_MAX) {
            /* Too many unanswered requests: stop reading until some go. */
            net_conn_read_enable(nc, false);
            return off;
        }
        size_t n = http_parser_execute(&c->parser, &c->srv->settings,
                                       data + off, len - off);
        off += n;
        enum http_errno he = HTTP_PARSER_ERRNO(&c->parser);
        if (he == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            complete_request(c);
            continue;
        }
        if (he != HPE_OK) {
            if (c->fail_status)
                reject(c, c->fail_status, c->fail_code,
                       "the request is over a size limit");
            else
                reject(c, 400, "malformed_request", http_errno_description(he));
            return len;
        }
    }
    return len;
}

static void conn_on_eof(struct net_conn *nc)
{
    struct conn *c = net_conn_ctx(nc);
    c->eof = true;
    /* Answer what was asked, then close. */
    if (!c->head)
        net_conn_close_after_write(nc);
}

static void conn_free(void *p)
{
    struct conn *c = p;
    while (c->head) {
        struct entry *e = c->head;
        c->head = e->next;
        entry_free(e);
    }
    if (c->cur)
        entry_free(c->cur);
    reset_parse_state(c);
    xfree(c);
}

static void conn_on_close(struct net_conn *nc, enum net_close_reason why)
{
    struct conn *c = net_conn_ctx(nc);
    struct api_server *srv = c->srv;
    (void)why;
    c->closed = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    srv->stats.connections_open = srv->nconns;
    /* Drop it from the waiting list before it is freed. */
    for (struct conn **pp = &srv->waiting; *pp; pp = &(*pp)->wait_next) {
        if (*pp == c) {
            *pp = c->wait_next;
            break;
        }
    }
    net_loop_defer(srv->loop, conn_free, c);
}

static const struct net_conn_ops conn_ops = {
    .on_data = conn_on_data,
    .on_eof = conn_on_eof,
    .on_close = conn_on_close,
};

static void on_accept(void *ctx, int fd, const struct sockaddr_storage *peer)
{
    struct api_server *srv = ctx;
    (void)peer;
    struct conn *c = xcalloc(1, sizeof(*c));
    c->srv = srv;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    buf_init(&c->url, HTTP_URL_MAX);
    buf_init(&c->body, HTTP_BODY_MAX);
    buf_init(&c->hval, 1024);
    c->nc = net_conn_new(srv->loop, fd, &conn_ops, c,
                         HTTP_HEADERS_MAX + HTTP_BODY_MAX + HTTP_URL_MAX,
                         HTTP_OUT_MAX);
    if (!c->nc) {
        xfree(c);
        return;
    }
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    srv->stats.connections_total++;
    srv->stats.connections_open = srv->nconns;
    if (srv->nconns > HTTP_CONNS_MAX) {
        struct entry *e = entry_new(srv);
        e->close_after = true;
        api__reply_problem(&e->req, &e->resp, 503, "too_many_connections", NULL,
                           "the server has too many connections");
        enqueue(c, e);
        flush_ready(c);
    }
}

/* Closes idle keep-alive connections and requests that trickle in. */
static void sweep(struct net_timer *t)
{
    struct api_server *srv = t->ctx;
    int64_t now = net_loop_now_ms(srv->loop);
    for (struct conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        if (c->cur && now - c->cur_start_ms > HTTP_REQUEST_MS)
            net_conn_close(c->nc, NET_CLOSE_LOCAL);
        else if (!c->cur && !c->head &&
                 now - net_conn_last_rx_ms(c->nc) > HTTP_IDLE_MS)
            net_conn_close(c->nc, NET_CLOSE_LOCAL);
    }
    net_timer_start(srv->loop, &srv->sweep, HTTP_SWEEP_MS, sweep, srv);
}

enum err api_server_new(struct net_loop *loop, struct svc *svc,
                        struct gateway *gw, const char *addr,
                        struct api_server **out, struct err_detail *d)
{
    int fd = -1;
    enum err e = net_listen(addr, false, &fd, d);
    if (e != ERR_OK)
        return e;
    struct api_server *srv = xcalloc(1, sizeof(*srv));
    srv->loop = loop;
    srv->ctx.svc = svc;
    srv->ctx.gw = gw;
    srv->ctx.stats = &srv->stats;
    buf_init(&srv->ctx.scratch, HTTP_OUT_MAX);
    if (net_local_addr(fd, srv->addr, sizeof(srv->addr)) != ERR_OK)
        snprintf(srv->addr, sizeof(srv->addr), "%s", addr);
    http_parser_settings_init(&srv->settings);
    srv->settings.on_message_begin = on_message_begin;
    srv->settings.on_url = on_url;
    srv->settings.on_header_field = on_header_field;
    srv->settings.on_header_value = on_header_value;
    srv->settings.on_headers_complete = on_headers_complete;
    srv->settings.on_body = on_body;
    srv->settings.on_message_complete = on_message_complete;
    srv->listener = net_listener_new(loop, fd, on_accept, srv);
    svc_on_durable(svc, on_durable, srv);
    net_timer_start(loop, &srv->sweep, HTTP_SWEEP_MS, sweep, srv);
    *out = srv;
    return ERR_OK;
}

const char *api_server_address(const struct api_server *srv)
{
    return srv->addr;
}

void api_server_free(struct api_server *srv)
{
    if (!srv)
        return;
    svc_on_durable(srv->ctx.svc, NULL, NULL);
    net_timer_stop(srv->loop, &srv->sweep);
    net_listener_free(srv->listener);
    while (srv->conns)
        net_conn_close(srv->conns->nc, NET_CLOSE_LOCAL);
    buf_release(&srv->ctx.scratch);
    while (srv->pool) {
        struct entry *e = srv->pool;
        srv->pool = e->next;
        entry_free(e);
    }
    xfree(srv);
}
