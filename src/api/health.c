/* SPDX-License-Identifier: MIT */
/* Liveness (GET /healthz) and Prometheus metrics (GET /metrics). */
#include "base/sys.h"
#include "api/api_int.h"
#include "gateway/gateway.h"

void api__health(struct api_ctx *ctx, struct api_req *req,
                 struct api_resp *resp)
{
    struct svc_stats st;
    svc_stats(ctx->svc, &st);
    api__reply_json(req, resp, 200,
                    json_pack("{s:s, s:I, s:I}", "status", "ok", "durable_lsn",
                              (json_int_t)st.durable_lsn, "pending_writes",
                              (json_int_t)(st.submitted_lsn - st.durable_lsn)));
}

static void counter(struct buf *b, const char *name, const char *help,
                    const char *type, uint64_t v)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help,
               name, type, name, v);
}

void api__metrics(struct api_ctx *ctx, struct api_req *req,
                  struct api_resp *resp)
{
    struct svc_stats st;
    svc_stats(ctx->svc, &st);
    const struct api_stats *hs = ctx->stats;
    struct buf b;
    buf_init(&b, 1 << 16);
    buf_puts(&b, "# HELP spoke_http_requests_total HTTP requests by status "
                 "class.\n# TYPE spoke_http_requests_total counter\n");
    for (int c = 1; c <= 5; c++)
        buf_printf(&b,
                   "spoke_http_requests_total{class=\"%dxx\"} %" PRIu64 "\n", c,
                   hs->by_class[c]);
    counter(&b, "spoke_http_parse_errors_total",
            "Requests rejected before routing.", "counter", hs->parse_errors);
    counter(&b, "spoke_http_connections", "Open HTTP connections.", "gauge",
            hs->connections_open);
    counter(&b, "spoke_trips_started_total", "Trips requested.", "counter",
            st.trips_started);
    counter(&b, "spoke_trips_ended_total", "Trips ended.", "counter",
            st.trips_ended);
    counter(&b, "spoke_trips_failed_total", "Trips whose unlock failed.",
            "counter", st.trips_failed);
    counter(&b, "spoke_fares_charged_cents_total", "Fares charged, in cents.",
            "counter", st.fare_cents_charged);
    counter(&b, "spoke_reservations_total", "Reservations made.", "counter",
            st.reservations_made);
    counter(&b, "spoke_reservations_expired_total", "Reservations expired.",
            "counter", st.reservations_expired);
    counter(&b, "spoke_riders", "Registered riders.", "gauge", st.riders);
    counter(&b, "spoke_positions_total", "Positions reported by locks.",
            "counter", st.positions);
    counter(&b, "spoke_positions_flushed_total",
            "Positions written to the history.", "counter",
            st.positions_flushed);
    counter(&b, "spoke_searches_total", "Searches counted in the search log.",
            "counter", st.searches);
    counter(&b, "spoke_search_rows_total",
            "Search log aggregates written (minute, square, found).", "counter",
            st.search_rows);
    buf_puts(&b, "# HELP spoke_bikes Bikes by MDS state.\n"
                 "# TYPE spoke_bikes gauge\n");
    for (int s = 0; s < CORE_VS_COUNT; s++)
        buf_printf(&b, "spoke_bikes{state=\"%s\"} %" PRIu64 "\n",
                   core_vstate_name((enum core_vstate)s), st.bikes_by_state[s]);
    counter(&b, "spoke_store_commits_total", "Group commits.", "counter",
            st.commits_batches);
    counter(&b, "spoke_store_pending_writes",
            "Writes queued but not yet durable.", "gauge",
            st.submitted_lsn - st.durable_lsn);
    if (ctx->gw) {
        struct gateway_stats gs;
        gateway_stats(ctx->gw, &gs);
        counter(&b, "spoke_locks_online", "Connected lock sessions.", "gauge",
                gs.sessions);
        counter(&b, "spoke_lock_frames_total", "Frames received from locks.",
                "counter", gs.frames);
        counter(&b, "spoke_lock_bad_frames_total",
                "Malformed or oversized lock frames dropped.", "counter",
                gs.bad_frames);
        counter(&b, "spoke_lock_sessions_rejected_total",
                "Lock sessions refused or closed for misbehaving.", "counter",
                gs.rejected);
    }
    char *p = arena_alloc(req->arena, b.len + 1);
    memcpy(p, b.data, b.len);
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4";
    resp->body = (struct str){p, b.len};
    buf_release(&b);
}
