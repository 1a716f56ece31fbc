/*
 * cloudwatch: PutMetricData to CloudWatch (or a compatible endpoint), in the query
 * protocol (the default: every CloudWatch endpoint and SDK model speaks it) or AWS JSON
 * 1.0 (protocol = "json").
 *
 * DESIGN
 * Points arrive interleaved across namespaces. Each namespace being filled owns one batch
 * of a fixed pool (max_in_flight + max_open_namespaces); a point is taken into its
 * namespace's batch by cw_metrics_encode, which packs and keeps the exact encoded size
 * of the request. A batch is sealed when the next point would break a service limit —
 * 1000 datums, 1,048,576 bytes of uncompressed body (max_request_bytes) — or when it is
 * older than force_flush_interval, or at shutdown; sealing writes the body. Sealed
 * batches go to the sender (aws.h: gzip at gzip_min_bytes, SigV4, retries) in FIFO
 * order, at most max_in_flight at a time. When no batch is free the exporter answers
 * -EAGAIN and the pipeline holds records in the ring until a batch completes.
 *
 * Packing (cw_metrics_encode.h): within a batch, single-value points with the same
 * metric name, dimensions (same names, values and order), unit, storage resolution and
 * timestamp period — floor(timestamp / resolution), i.e. the same second for
 * high-resolution metrics and the same minute for standard ones — share one datum: the
 * datum keeps its first point's timestamp, identical values add to a count, up to 150
 * distinct values (Values + Counts); a datum of one value seen once goes as Value.
 * CloudWatch stores a metric at its resolution, so points of the same period are
 * aggregated together anyway: packing them keeps SampleCount, Sum, Minimum, Maximum and
 * the percentiles exactly, and sends fewer bytes. Points of different periods are never
 * merged (that would move a value to another minute). StatisticValues points are sent
 * as StatisticValues, one datum each.
 *
 * Points CloudWatch would refuse are not sent (one bad datum fails the whole request):
 * NaN/Inf, beyond +-2^360, text CloudWatch does not accept -> dropped as invalid; older
 * than 14 days (minus a 1 h margin for retries) or more than 2 h (minus 5 min for clock
 * skew) in the future -> dropped as rejected. A request the service still refuses
 * (4xx validation) is counted as rejected and never retried; throttling (by error code,
 * whatever the status: CloudWatch answers Throttling with HTTP 400) and 5xx are retried.
 *
 * Points flagged RECORD_FLAG_LOCAL_ONLY (the values of EMF documents, which CloudWatch
 * Logs publishes itself from the log event) are never sent: sending them too would count
 * every value twice. They are taken, acknowledged as accepted, and counted under the
 * fine reason "local_only" (shown in the summary line; not a drop).
 */
#include "exporters/aws.h"
#include "exporters/cw_metrics_encode.h"
#include "exporters/exporter.h"

#include "agent/clock.h"
#include "agent/log.h"
#include "agent/pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Points one batch holds at most (identical values pack into counts, so the datum and
 * byte limits alone would not bound it). */
#define CW_MAX_POINTS_PER_BATCH 1000000u

#define CW_JSON_TARGET       "GraniteServiceVersion20100801.PutMetricData"
#define CW_JSON_CONTENT_TYPE "application/x-amz-json-1.0"
#define CW_FORM_CONTENT_TYPE "application/x-www-form-urlencoded; charset=utf-8"

/* Indexes of `protocols`. */
enum cw_protocol_choice { CW_PROTOCOL_QUERY = 0, CW_PROTOCOL_JSON = 1 };
static const char *const protocols[] = {"query", "json", NULL};

struct cw_config {
    int protocol;
    uint64_t flush_interval_ns;
    int64_t max_in_flight;
    int64_t max_open_namespaces;
    int64_t max_request_bytes;
    bool gzip;
    int64_t gzip_min_bytes;
    uint64_t request_timeout_ns;
};

enum cw_batch_state {
    CW_FREE = 0,
    CW_OPEN,
    CW_SENDING, /* with the sender: queued, in flight or retrying */
};

struct cw_batch {
    struct aws_batch aws; /* first: the sender hands it back */
    struct cw_exporter *owner;
    enum cw_batch_state state;
    struct cwm_batch enc;
    uint64_t opened_ns;
};

struct cw_exporter {
    struct cw_config cfg;
    struct aws_connection conn;
    struct exporter *e;
    struct aws_sender sender;
    bool sender_ready;
    struct cw_batch *pool;
    size_t n_pool;
    bool blocked;
    struct log_complain drop_complain;
};

/* Fine counters (selfstats reject slots); local_only is counted apart from the drops. */
enum cw_fine { CW_FINE_LOCAL_ONLY = 0 };
static const char *const cw_fine_names[] = {"local_only", NULL};

static const struct cfg_field cw_fields[] = {
    {"protocol", CFG_ENUM, offsetof(struct cw_config, protocol), "query", 0, 0, protocols, 0,
     "query (form-encoded) or json (AWS JSON 1.0)"},
    {"force_flush_interval", CFG_SECONDS, offsetof(struct cw_config, flush_interval_ns), "60", 0.05,
     86400, NULL, 0, "longest time a point waits in a batch"},
    {"max_in_flight", CFG_INT, offsetof(struct cw_config, max_in_flight), "4", 1, 64, NULL, 0,
     "PutMetricData requests in flight at once"},
    {"max_open_namespaces", CFG_INT, offsetof(struct cw_config, max_open_namespaces), "8", 1, 256,
     NULL, 0, "namespaces batched at the same time"},
    {"max_request_bytes", CFG_INT, offsetof(struct cw_config, max_request_bytes), "1048576", 16384,
     CWM_MAX_BODY_BYTES, NULL, 0,
     "largest uncompressed request body (CloudWatch's limit; lower for compatible endpoints)"},
    {"gzip", CFG_BOOL, offsetof(struct cw_config, gzip), "true", 0, 0, NULL, 0,
     "compress request bodies"},
    {"gzip_min_bytes", CFG_INT, offsetof(struct cw_config, gzip_min_bytes), "10240", 0, 1 << 24,
     NULL, 0, "compress bodies at least this large"},
    {"request_timeout", CFG_SECONDS, offsetof(struct cw_config, request_timeout_ns), "30", 1, 600,
     NULL, 0, "seconds per HTTP request"},
    CFG_END,
};

static int cw_init(struct exporter *e)
{
    struct cw_exporter *x = e->ctx;
    x->e = e;
    e->stats.reject_names = cw_fine_names;
    if (aws_connection_check(e, &x->conn, "monitoring") != 0)
        return -EINVAL;
    x->n_pool = (size_t)(x->cfg.max_in_flight + x->cfg.max_open_namespaces);
    x->pool = calloc(x->n_pool, sizeof(*x->pool));
    if (!x->pool)
        return -ENOMEM;
    enum cwm_protocol proto = x->cfg.protocol == CW_PROTOCOL_JSON ? CWM_JSON : CWM_QUERY;
    for (size_t i = 0; i < x->n_pool; i++) {
        struct cw_batch *b = &x->pool[i];
        b->owner = x;
        int r = cwm_batch_init(&b->enc, proto, (size_t)x->cfg.max_request_bytes, CWM_MAX_DATUMS);
        if (r != 0)
            return r;
    }
    return 0;
}

/* ---- sealing and sending ------------------------------------------------------------ */

static void batch_free(struct cw_batch *b)
{
    aws_batch_reset(&b->aws);
    (void)cwm_batch_reset(&b->enc, "");
    b->state = CW_FREE;
}

static void seal(struct cw_exporter *x, struct cw_batch *b)
{
    if (b->state != CW_OPEN)
        return;
    if (cwm_batch_datums(&b->enc) == 0) {
        /* Opened for a point that then could not be taken: nothing to send. */
        exporter_report_runs(x->e, &b->aws.runs, DELIVERY_REJECTED);
        batch_free(b);
        return;
    }
    buf_reset(&b->aws.body);
    int r = cwm_batch_encode(&b->enc, &b->aws.body);
    if (r != 0) {
        /* Cannot happen within the caps (sizes are checked while adding); count it,
         * never send a body that could break the limits. */
        log_error(x->e->name, "cannot encode a batch of %u points for '%s': %s", b->aws.records,
                  b->enc.namespace_, strerror(-r));
        selfstats_add(&x->e->stats.errors, 1);
        selfstats_drop(&x->e->stats, DROP_INVALID, b->aws.records);
        exporter_report_runs(x->e, &b->aws.runs, DELIVERY_REJECTED);
        batch_free(b);
        return;
    }
    if (x->cfg.protocol == CW_PROTOCOL_JSON) {
        b->aws.target = CW_JSON_TARGET;
        b->aws.content_type = CW_JSON_CONTENT_TYPE;
    } else {
        b->aws.target = NULL;
        b->aws.content_type = CW_FORM_CONTENT_TYPE;
    }
    snprintf(b->aws.path, sizeof(b->aws.path), "/");
    b->state = CW_SENDING;
    aws_sender_enqueue(&x->sender, &b->aws);
}

/* ---- sender callbacks --------------------------------------------------------------- */

static void cw_done(void *user, struct aws_batch *ab, enum delivery_outcome outcome)
{
    struct cw_exporter *x = user;
    struct cw_batch *b = (struct cw_batch *)ab;
    if (outcome == DELIVERY_ACCEPTED)
        selfstats_add(&x->e->stats.records_out, b->aws.records);
    exporter_report_runs(x->e, &b->aws.runs, outcome);
    batch_free(b);
    if (x->blocked) {
        x->blocked = false;
        exporter_ready(x->e);
    }
}

/* ---- adding records ----------------------------------------------------------------- */

static struct cw_batch *find_open(struct cw_exporter *x, const char *namespace_)
{
    for (size_t i = 0; i < x->n_pool; i++) {
        struct cw_batch *b = &x->pool[i];
        if (b->state == CW_OPEN && strcmp(b->enc.namespace_, namespace_) == 0)
            return b;
    }
    return NULL;
}

static struct cw_batch *open_batch(struct cw_exporter *x, const char *namespace_)
{
    struct cw_batch *free_b = NULL, *oldest = NULL;
    size_t open = 0;
    for (size_t i = 0; i < x->n_pool; i++) {
        struct cw_batch *b = &x->pool[i];
        if (b->state == CW_FREE && !free_b)
            free_b = b;
        if (b->state == CW_OPEN) {
            open++;
            if (!oldest || b->opened_ns < oldest->opened_ns)
                oldest = b;
        }
    }
    if (oldest && (!free_b || open >= (size_t)x->cfg.max_open_namespaces)) {
        /* Too many namespaces at once: send the one that has waited longest. */
        seal(x, oldest);
        if (!free_b) {
            /* Sealing an empty batch frees it. */
            free_b = oldest->state == CW_FREE ? oldest : NULL;
        }
    }
    if (!free_b)
        return NULL;
    if (cwm_batch_reset(&free_b->enc, namespace_) != 0)
        return NULL;
    aws_batch_reset(&free_b->aws);
    free_b->state = CW_OPEN;
    free_b->opened_ns = clock_monotonic_ns();
    return free_b;
}

/* A batch for the point that can still take a record with this cookie. */
static bool batch_can_take(struct cw_batch *b, const struct record_hdr *hdr)
{
    if (b->aws.records >= CW_MAX_POINTS_PER_BATCH)
        return false;
    return delivery_runs_has_room(&b->aws.runs, hdr);
}

static int cw_add(struct exporter *e, const struct record_view *v)
{
    struct cw_exporter *x = e->ctx;
    const struct metric_point *p = &v->u.metric;
    uint64_t now = clock_realtime_ns();
    uint64_t ts = v->hdr.ts_ns ? v->hdr.ts_ns : now;

    if (v->hdr.flags & RECORD_FLAG_LOCAL_ONLY) {
        selfstats_add(&e->stats.records_in, 1);
        selfstats_add(&e->stats.rejects[CW_FINE_LOCAL_ONLY], 1);
        struct delivery_ack ack = {0};
        delivery_stretch_add(e, &ack, v->hdr.source, v->hdr.cookie, DELIVERY_ACCEPTED);
        delivery_stretch_end(e, &ack);
        return 0;
    }

    int r = cwm_point_check(p, ts, now);
    if (r != 0) {
        selfstats_add(&e->stats.records_in, 1);
        selfstats_drop(&e->stats, r == -ERANGE ? DROP_REJECTED : DROP_INVALID, 1);
        log_complain(&x->drop_complain, LOG_LEVEL_WARN, e->name,
                     r == -ERANGE ? "point '%s' in '%s' is older than 14 days or more than 2 "
                                    "hours in the future; CloudWatch would reject it, dropping"
                                  : "point '%s' in '%s' has a value, unit, resolution or name "
                                    "CloudWatch does not accept, dropping",
                     p->name ? p->name : "", p->namespace_ ? p->namespace_ : "");
        return -EINVAL;
    }

    struct cw_batch *b = find_open(x, p->namespace_);
    if (b && !batch_can_take(b, &v->hdr)) {
        seal(x, b);
        b = NULL;
    }
    for (int round = 0; round < 2; round++) {
        if (!b) {
            b = open_batch(x, p->namespace_);
            if (!b) {
                x->blocked = true;
                return -EAGAIN;
            }
        }
        r = cwm_batch_add(&b->enc, p, ts);
        if (r != -ENOSPC)
            break;
        /* Full: send it and start the namespace's next batch. */
        seal(x, b);
        b = NULL;
    }
    selfstats_add(&e->stats.records_in, 1);
    if (r != 0) {
        selfstats_drop(&e->stats, r == -E2BIG || r == -ENOSPC ? DROP_TOO_LARGE : DROP_INVALID, 1);
        log_complain(&x->drop_complain, LOG_LEVEL_WARN, e->name,
                     "cannot batch point '%s' in '%s': %s, dropping", p->name, p->namespace_,
                     strerror(-r));
        return -EINVAL;
    }
    b->aws.records++;
    (void)delivery_runs_add(&b->aws.runs, &v->hdr);
    return 0;
}

static int cw_flush(struct exporter *e)
{
    struct cw_exporter *x = e->ctx;
    uint64_t now = clock_monotonic_ns();
    for (size_t i = 0; i < x->n_pool; i++) {
        struct cw_batch *b = &x->pool[i];
        if (b->state == CW_OPEN && (e->draining || now - b->opened_ns >= x->cfg.flush_interval_ns))
            seal(x, b);
    }
    return 0;
}

static bool cw_idle(struct exporter *e)
{
    struct cw_exporter *x = e->ctx;
    for (size_t i = 0; i < x->n_pool; i++)
        if (x->pool[i].state != CW_FREE)
            return false;
    return true;
}

static void on_sender_closed(void *data)
{
    struct exporter *e = data;
    exporter_handle_closed(e);
}

static int cw_start(struct exporter *e, uv_loop_t *loop)
{
    struct cw_exporter *x = e->ctx;
    bool json = x->cfg.protocol == CW_PROTOCOL_JSON;
    struct aws_sender_options o;
    int r = aws_sender_options_init(&o, e, &x->conn, "monitoring", "monitoring");
    if (r != 0)
        return r;
    o.protocol = json ? AWS_PROTOCOL_JSON : AWS_PROTOCOL_QUERY;
    o.gzip = x->cfg.gzip;
    o.gzip_min_bytes = (size_t)x->cfg.gzip_min_bytes;
    o.request_timeout_ms = x->cfg.request_timeout_ns / NS_PER_MS;
    o.max_in_flight = (unsigned)x->cfg.max_in_flight;
    /* CloudWatch is awsQueryCompatible: in JSON mode the SDKs announce it so errors
     * carry the query error codes too (x-amzn-query-error). */
    if (json)
        o.extra_header = (struct http_header){"x-amzn-query-mode", "true"};
    struct aws_sender_callbacks cb = {.classify = NULL, .done = cw_done};
    r = aws_sender_init(&x->sender, e, loop, &o, &cb, x);
    if (r != 0)
        return r;
    for (size_t i = 0; i < x->n_pool; i++)
        aws_batch_init(&x->sender, &x->pool[i].aws, (size_t)x->cfg.max_request_bytes);
    x->sender_ready = true;
    exporter_handle_opened(e);
    log_info(e->name, "sending to %s (region %s, %s protocol)", o.endpoint.url, o.region,
             protocols[x->cfg.protocol]);
    return 0;
}

static void cw_stop(struct exporter *e)
{
    struct cw_exporter *x = e->ctx;
    if (!x->sender_ready)
        return;
    /* Whatever was not delivered by the deadline is given up. */
    for (size_t i = 0; i < x->n_pool; i++) {
        struct cw_batch *b = &x->pool[i];
        if (b->state == CW_OPEN) {
            selfstats_drop(&e->stats, DROP_SHUTDOWN, b->aws.records);
            exporter_report_runs(e, &b->aws.runs, DELIVERY_GAVE_UP);
            batch_free(b);
        }
    }
    x->sender_ready = false;
    aws_sender_close(&x->sender, on_sender_closed, e);
}

static void cw_destroy(struct exporter *e)
{
    struct cw_exporter *x = e->ctx;
    for (size_t i = 0; x->pool && i < x->n_pool; i++) {
        aws_batch_release(&x->pool[i].aws);
        cwm_batch_release(&x->pool[i].enc);
    }
    free(x->pool);
}

const struct exporter_type exporter_cloudwatch = {
    .name = "cloudwatch",
    .help = "PutMetricData to CloudWatch (or a compatible endpoint)",
    .kinds = RECORD_KIND_BIT(RECORD_METRIC),
    .fields = cw_fields,
    .ctx_size = sizeof(struct cw_exporter),
    .extra_fields = aws_connection_fields,
    .extra_offset = offsetof(struct cw_exporter, conn),
    .init = cw_init,
    .start = cw_start,
    .add = cw_add,
    .flush = cw_flush,
    .idle = cw_idle,
    .stop = cw_stop,
    .destroy = cw_destroy,
};
