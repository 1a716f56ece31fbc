/*
 * generate: a source of numbered records (osprey.generate, a list), like Fluent Bit's
 * "dummy" input: for demos, load tests, benchmarks, and end-to-end tests of delivery,
 * where every record must be accounted for.
 *
 * Each generator emits `count` records (0 = until stopped) of one kind, at `rate` per
 * second (0 = as fast as the ring takes them): log events "<message>" with "{n}"
 * replaced by the record number, metric points whose value is n, or X-Ray segment
 * documents. It never drops: when the ring is full it pauses and asks to be resumed, as
 * a log tail does. Every record carries its number as cookie, so delivery outcomes come
 * back; when every record of a finite generator has been acknowledged by every sink that
 * takes it, it logs "all N records acknowledged" with the accepted / rejected / given-up
 * counts.
 */
#include "collectors/collector.h"

#include "agent/clock.h"
#include "agent/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GENERATE_TICK_MS     10
#define GENERATE_BURST       4096
#define GENERATE_MAX_MESSAGE (1u << 20)

static const char *const kinds[] = {"logs", "metrics", "traces", NULL};

struct generate_ctx {
    /* configuration */
    int kind;
    int64_t count;
    double rate;
    char *group;
    char *stream;
    char *message;
    int64_t size;
    char *metric_name;
    double timestamp_start_s;
    double timestamp_step_s;

    struct collector *c;
    uv_timer_t timer;
    bool timer_open;
    bool paused;
    uint64_t next; /* number of the next record, from 0 */
    double budget; /* records allowed by the rate but not yet emitted */
    uint64_t last_tick_ns;
    uint64_t base_ts_ns;
    char *text;
    size_t text_cap;
    uint64_t accepted, rejected, gave_up;
    bool reported;
    struct log_complain complain;
};

static const struct cfg_field generate_fields[] = {
    {"kind", CFG_ENUM, offsetof(struct generate_ctx, kind), "logs", 0, 0, kinds, 0,
     "what to generate: logs, metrics or traces"},
    {"count", CFG_INT, offsetof(struct generate_ctx, count), "0", 0, 1e12, NULL, 0,
     "records to generate (0 = until stopped)"},
    {"rate", CFG_DOUBLE, offsetof(struct generate_ctx, rate), "0", 0, 1e9, NULL, 0,
     "records per second (0 = as fast as the ring takes them)"},
    {"log_group_name", CFG_STRING, offsetof(struct generate_ctx, group), "osprey-generate", 0, 0,
     NULL, 0, "log group of generated log events"},
    {"log_stream_name", CFG_STRING, offsetof(struct generate_ctx, stream), "generate", 0, 0, NULL,
     0, "log stream of generated log events"},
    {"message", CFG_STRING, offsetof(struct generate_ctx, message), "osprey generated line {n}", 0,
     0, NULL, 0, "log message; {n} is replaced by the record number"},
    {"size", CFG_INT, offsetof(struct generate_ctx, size), "0", 0, GENERATE_MAX_MESSAGE * 2.0, NULL,
     0, "pad log messages with '.' to this many bytes (0 = no padding)"},
    {"metric_name", CFG_STRING, offsetof(struct generate_ctx, metric_name), "generated_value", 0, 0,
     NULL, 0, "name of generated metrics (value = record number)"},
    {"timestamp_start", CFG_DOUBLE, offsetof(struct generate_ctx, timestamp_start_s), "0", -1e9,
     1e9, NULL, 0, "timestamp of record 0, in seconds from start-up (negative = in the past)"},
    {"timestamp_step", CFG_DOUBLE, offsetof(struct generate_ctx, timestamp_step_s), "0", -1e9, 1e9,
     NULL, 0, "seconds between records' timestamps (0 = the time each is emitted)"},
    CFG_END,
};

static int generate_init(struct collector *c)
{
    struct generate_ctx *g = c->ctx;
    g->c = c;
    static const enum record_kind kind_of[] = {RECORD_LOG, RECORD_METRIC, RECORD_SEGMENT};
    c->kinds = RECORD_KIND_BIT(kind_of[g->kind]);
    if (!strstr(g->message, "{n}") && g->kind == 0 && g->size == 0)
        log_debug(c->name, "message has no {n}: every event is the same");
    g->text_cap = GENERATE_MAX_MESSAGE * 2 + 64;
    g->text = malloc(g->text_cap);
    return g->text ? 0 : -ENOMEM;
}

static uint64_t record_ts(struct generate_ctx *g, uint64_t n)
{
    if (g->timestamp_start_s == 0 && g->timestamp_step_s == 0)
        return clock_realtime_ns();
    double ts = (double)g->base_ts_ns +
                (g->timestamp_start_s + g->timestamp_step_s * (double)n) * (double)NS_PER_SEC;
    return ts < 0 ? 0 : (uint64_t)ts;
}

/* The message with {n} replaced, padded to `size`. */
static size_t render_message(struct generate_ctx *g, uint64_t n)
{
    size_t len = 0;
    char num[32];
    int num_len = snprintf(num, sizeof(num), "%" PRIu64, n);
    for (const char *p = g->message; *p && len + 32 < g->text_cap;) {
        if (strncmp(p, "{n}", 3) == 0) {
            memcpy(g->text + len, num, (size_t)num_len);
            len += (size_t)num_len;
            p += 3;
        } else {
            g->text[len++] = *p++;
        }
    }
    while ((int64_t)len < g->size && len < g->text_cap)
        g->text[len++] = '.';
    return len;
}

static int emit_one(struct generate_ctx *g, uint64_t n)
{
    struct collector *c = g->c;
    uint64_t ts = record_ts(g, n);
    switch (g->kind) {
    case 0: {
        struct log_event ev = {g->group, g->stream, (const uint8_t *)g->text, 0};
        ev.message_len = (uint32_t)render_message(g, n);
        return collector_emit_log(c, ts, n + 1, &ev);
    }
    case 1: {
        struct metric_point p;
        char name[256];
        collector_metric_begin(c, &p, "value", METRIC_UNIT_COUNT, name, sizeof(name));
        p.name = g->metric_name;
        p.value = (double)n;
        return collector_emit_metric(c, ts, n + 1, &p);
    }
    default: {
        double start = (double)ts / (double)NS_PER_SEC;
        int len = snprintf(g->text, g->text_cap,
                           "{\"name\":\"osprey-generate\",\"id\":\"%016" PRIx64 "\","
                           "\"trace_id\":\"1-%08" PRIx64 "-%024" PRIx64 "\","
                           "\"start_time\":%.6f,\"end_time\":%.6f,"
                           "\"annotations\":{\"n\":%" PRIu64 "}}",
                           n + 1, (uint64_t)start, n + 1, start, start + 0.001, n);
        return collector_emit_segment(c, ts, n + 1, (const uint8_t *)g->text, (size_t)len);
    }
    }
}

static void generate_run(struct generate_ctx *g)
{
    struct collector *c = g->c;
    uint64_t now = clock_monotonic_ns();
    if (g->rate > 0) {
        g->budget += g->rate * (double)(now - g->last_tick_ns) / (double)NS_PER_SEC;
        if (g->budget > g->rate) /* never burst more than one second's worth */
            g->budget = g->rate;
    }
    g->last_tick_ns = now;
    for (unsigned i = 0; i < GENERATE_BURST; i++) {
        if (g->count && g->next >= (uint64_t)g->count) {
            uv_timer_stop(&g->timer);
            return;
        }
        if (g->rate > 0 && g->budget < 1)
            return;
        int r = emit_one(g, g->next);
        if (r == -ENOSPC) {
            /* Ask first, then look once more: space freed just before the request was
             * visible would otherwise never be reported. */
            collector_request_space(c);
            r = emit_one(g, g->next);
        }
        if (r == -ENOSPC) {
            g->paused = true;
            uv_timer_stop(&g->timer);
            return;
        }
        selfstats_add(&c->stats.records_in, 1);
        if (r != 0) {
            /* Counted by the emit call (invalid / too large); the number is used up. */
            log_complain(&g->complain, LOG_LEVEL_ERROR, c->name,
                         "record %" PRIu64 " cannot be emitted: %s", g->next, strerror(-r));
        }
        g->next++;
        if (g->rate > 0)
            g->budget -= 1;
    }
}

static void on_tick(uv_timer_t *h)
{
    generate_run(h->data);
}

static void generate_on_space(struct collector *c)
{
    struct generate_ctx *g = c->ctx;
    if (!g->paused || !g->timer_open)
        return;
    g->paused = false;
    uv_timer_start(&g->timer, on_tick, 0, GENERATE_TICK_MS);
}

static void generate_on_ack(struct collector *c, const struct delivery_ack *ack)
{
    struct generate_ctx *g = c->ctx;
    switch (ack->outcome) {
    case DELIVERY_ACCEPTED:
        g->accepted += ack->records;
        break;
    case DELIVERY_REJECTED:
        g->rejected += ack->records;
        break;
    case DELIVERY_GAVE_UP:
        g->gave_up += ack->records;
        break;
    }
    uint64_t expected = (uint64_t)g->count * c->n_consumers;
    if (g->count && !g->reported && g->accepted + g->rejected + g->gave_up >= expected) {
        g->reported = true;
        log_info(c->name,
                 "all %" PRId64 " records acknowledged (accepted %" PRIu64 ", rejected %" PRIu64
                 ", given up %" PRIu64 ")",
                 g->count, g->accepted, g->rejected, g->gave_up);
    }
}

static int generate_start(struct collector *c, uv_loop_t *loop)
{
    struct generate_ctx *g = c->ctx;
    int r = uv_timer_init(loop, &g->timer);
    if (r != 0)
        return r;
    g->timer.data = g;
    g->timer_open = true;
    collector_handle_opened(c);
    g->base_ts_ns = clock_realtime_ns();
    g->last_tick_ns = clock_monotonic_ns();
    return uv_timer_start(&g->timer, on_tick, 0, GENERATE_TICK_MS);
}

static void on_close(uv_handle_t *h)
{
    struct generate_ctx *g = h->data;
    collector_handle_closed(g->c);
}

static void generate_stop(struct collector *c)
{
    struct generate_ctx *g = c->ctx;
    if (!g->timer_open)
        return;
    g->timer_open = false;
    uv_timer_stop(&g->timer);
    uv_close((uv_handle_t *)&g->timer, on_close);
    log_info(c->name, "stopped after %" PRIu64 " records", g->next);
}

static void generate_destroy(struct collector *c)
{
    struct generate_ctx *g = c->ctx;
    free(g->text);
}

const struct collector_type collector_generate = {
    .name = "generate",
    .help = "numbered test records: logs, metrics or traces (osprey.generate, a list)",
    .config_path = "osprey/generate",
    .config_is_list = true,
    .kinds = RECORD_KINDS_ALL,
    .fields = generate_fields,
    .ctx_size = sizeof(struct generate_ctx),
    .init = generate_init,
    .start = generate_start,
    .stop = generate_stop,
    .destroy = generate_destroy,
    .on_ack = generate_on_ack,
    .on_space = generate_on_space,
};
