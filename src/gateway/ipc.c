/* SPDX-License-Identifier: MIT */
/*
 * The gateway's messages to and from its worker processes: the codec, and
 * channels that batch what a loop turn sends into one write.
 */
#include "base/sys.h"
#include "gateway/gateway_int.h"
#include "net/tcp.h"

/* What a channel may queue before the peer counts as stuck. */
#define CHAN_OUT_MAX (64u << 20)
#define CHAN_IN_MAX (GATEWAY__MSG_HEADER + GATEWAY__MSG_BODY_MAX)

void gateway__msg_begin(struct gateway__msg_buf *m, enum gateway__msg type)
{
    m->type = type;
    m->len = 0;
    m->pos = 0;
}

void gateway__msg_u64(struct gateway__msg_buf *m, uint64_t v)
{
    ASSERT(m->len + 8 <= GATEWAY__MSG_BODY_MAX);
    for (int i = 0; i < 8; i++)
        m->body[m->len++] = (unsigned char)(v >> (8 * i));
}

void gateway__msg_f64(struct gateway__msg_buf *m, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    gateway__msg_u64(m, u);
}

void gateway__msg_u8(struct gateway__msg_buf *m, uint8_t v)
{
    ASSERT(m->len + 1 <= GATEWAY__MSG_BODY_MAX);
    m->body[m->len++] = v;
}

enum err gateway__msg_put(const struct gateway__msg_buf *m, struct buf *out)
{
    unsigned char head[GATEWAY__MSG_HEADER] = {(unsigned char)m->len,
                                               (unsigned char)(m->len >> 8),
                                               (unsigned char)m->type};
    enum err e = buf_append(out, head, sizeof(head));
    if (e == ERR_OK)
        e = buf_append(out, m->body, m->len);
    return e;
}

bool gateway__msg_take(const char *data, size_t len, struct gateway__msg_buf *m,
                       size_t *used, enum err *e)
{
    const unsigned char *p = (const unsigned char *)data;
    *e = ERR_OK;
    if (len < GATEWAY__MSG_HEADER)
        return false;
    size_t body = (size_t)p[0] | (size_t)p[1] << 8;
    if (body > GATEWAY__MSG_BODY_MAX) {
        *e = ERR_INVALID;
        return false;
    }
    if (len < GATEWAY__MSG_HEADER + body)
        return false;
    m->type = (enum gateway__msg)p[2];
    memcpy(m->body, p + GATEWAY__MSG_HEADER, body);
    m->len = body;
    m->pos = 0;
    *used = GATEWAY__MSG_HEADER + body;
    return true;
}

uint64_t gateway__msg_get_u64(struct gateway__msg_buf *m)
{
    if (m->pos + 8 > m->len)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)m->body[m->pos++] << (8 * i);
    return v;
}

double gateway__msg_get_f64(struct gateway__msg_buf *m)
{
    uint64_t u = gateway__msg_get_u64(m);
    double v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

uint8_t gateway__msg_get_u8(struct gateway__msg_buf *m)
{
    return m->pos < m->len ? m->body[m->pos++] : 0;
}

/* Channels */

struct gateway__chan {
    struct net_loop *loop;
    struct net_conn *nc;
    gateway__chan_msg_fn *on_msg;
    gateway__chan_close_fn *on_close;
    void *ctx;
    struct buf out; /* this turn's messages */
    bool flush_queued;
    bool closed;
};

static void chan_flush(void *p)
{
    struct gateway__chan *c = p;
    c->flush_queued = false;
    if (c->closed || !c->out.len)
        return;
    net_conn_write(c->nc, c->out.data, c->out.len);
    buf_reset(&c->out);
    buf_shrink(&c->out);
}

static size_t chan_on_data(struct net_conn *nc, const char *data, size_t len)
{
    struct gateway__chan *c = net_conn_ctx(nc);
    size_t off = 0;
    struct gateway__msg_buf m;
    size_t used;
    enum err e = ERR_OK;
    while (!c->closed &&
           gateway__msg_take(data + off, len - off, &m, &used, &e)) {
        off += used;
        c->on_msg(c->ctx, &m);
    }
    if (e != ERR_OK && !c->closed)
        net_conn_close(nc, NET_CLOSE_ERROR);
    return off;
}

static void chan_on_close(struct net_conn *nc, enum net_close_reason why)
{
    struct gateway__chan *c = net_conn_ctx(nc);
    (void)why;
    if (c->closed)
        return;
    c->closed = true;
    c->on_close(c->ctx);
}

static const struct net_conn_ops chan_ops = {
    .on_data = chan_on_data,
    .on_close = chan_on_close,
};

struct gateway__chan *gateway__chan_new(struct net_loop *loop, int fd,
                                        gateway__chan_msg_fn *on_msg,
                                        gateway__chan_close_fn *on_close,
                                        void *ctx)
{
    struct gateway__chan *c = xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->on_msg = on_msg;
    c->on_close = on_close;
    c->ctx = ctx;
    buf_init(&c->out, CHAN_OUT_MAX);
    c->nc = net_conn_new(loop, fd, &chan_ops, c, CHAN_IN_MAX, CHAN_OUT_MAX);
    if (!c->nc) {
        buf_release(&c->out);
        xfree(c);
        return NULL;
    }
    return c;
}

void gateway__chan_send(struct gateway__chan *c,
                        const struct gateway__msg_buf *m)
{
    if (c->closed)
        return;
    if (gateway__msg_put(m, &c->out) != ERR_OK) {
        net_conn_close(c->nc, NET_CLOSE_OVERFLOW);
        return;
    }
    if (!c->flush_queued) {
        c->flush_queued = true;
        net_loop_defer(c->loop, chan_flush, c);
    }
}

static void chan_destroy(void *p)
{
    struct gateway__chan *c = p;
    buf_release(&c->out);
    xfree(c);
}

void gateway__chan_free(struct gateway__chan *c)
{
    if (!c)
        return;
    /* Flush what this turn queued, then let the peer see the close. */
    if (!c->closed) {
        chan_flush(c);
        c->closed = true;
        net_conn_close(c->nc, NET_CLOSE_LOCAL);
    }
    /* After any flush still queued for this turn. */
    net_loop_defer(c->loop, chan_destroy, c);
}
