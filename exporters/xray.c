/*
 * xray: PutTraceSegments to AWS X-Ray (REST-JSON, POST /TraceSegments, SigV4 "xray").
 *
 * DESIGN
 * Segment records carry one already-validated JSON document each. Documents are appended,
 * escaped as JSON strings, straight into the request body of the one batch being filled
 * (xray_encode.h), so sealing only closes the list. A batch is sealed when it holds
 * batch_size documents (at most 50, the daemon's and the OTel exporter's per-call cap),
 * when no document was added for idle_flush (1 s, as the X-Ray daemon does), when it is
 * older than max_batch_age (a backstop for a steady trickle that never goes idle), and at
 * shutdown. One timer per exporter checks both deadlines; adding a document only stamps
 * the time, so the hot path never touches the timer heap.
 *
 * Sealed batches go to the sender (aws.h) in FIFO order, at most max_in_flight at a time
 * (the daemon's Concurrency, default 8); the pool holds max_in_flight +
 * max_queued_batches batches. When none is free, add answers -EAGAIN and documents wait
 * in the ring: unlike the daemon, nothing is spilled while the API is slow or
 * throttling (ThrottledException, HTTP 429, is retried by aws.c with backoff).
 *
 * Documents the service refuses anyway are dropped before sending and counted: empty ->
 * invalid, over 64 KiB -> too large. A 200 answer may list documents in
 * UnprocessedTraceSegments: each is counted as rejected (and logged, rate-limited); the
 * batch itself is accepted and never retried for them. Each document's top-level "id" is
 * remembered, so the entries are matched back to their records and the delivery outcome
 * of those records is "rejected" while the rest of the batch is "accepted".
 *
 * With sampling_proxy set (traces.traces_collected.xray.tcp_proxy), the exporter also runs
 * the X-Ray daemon's sampling proxy (xray_proxy.h) on this loop, where the credentials and
 * the signer are, with its own sender so sampling calls never wait behind uploads.
 */
#include "exporters/aws.h"
#include "exporters/exporter.h"
#include "exporters/xray_encode.h"
#include "exporters/xray_proxy.h"

#include "agent/clock.h"
#include "agent/log.h"
#include "agent/pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(XRAY_MAX_DOCUMENTS <= DELIVERY_RUNS_MAX,
               "a batch's documents must fit one set of delivery runs");

struct xray_config {
    int64_t max_in_flight;
    int64_t max_queued_batches;
    int64_t batch_size;
    uint64_t idle_flush_ns;
    uint64_t max_batch_age_ns;
    bool gzip;
    int64_t gzip_min_bytes;
    uint64_t request_timeout_ns;
    char *sampling_proxy;
};

enum xray_batch_state {
    XRAY_FREE = 0,
    XRAY_OPEN,
    XRAY_SENDING, /* with the sender: queued, in flight or retrying */
};

struct xray_batch {
    struct aws_batch aws;
    struct xray_exporter *owner;
    enum xray_batch_state state;
    uint32_t n_docs;
    uint64_t opened_ns;
    uint64_t last_add_ns;
    uint32_t unprocessed; /* entries of the 200 answer, at most n_docs */
    struct xray_doc docs[XRAY_MAX_DOCUMENTS];
    struct record_hdr hdrs[XRAY_MAX_DOCUMENTS]; /* source and cookie, for delivery acks */
};

struct xray_exporter {
    struct xray_config cfg;
    struct aws_connection conn;
    struct exporter *e;
    struct aws_sender sender;
    bool sender_ready;
    uv_timer_t flush_timer;
    bool timer_open;
    struct xray_batch *pool;
    size_t n_pool;
    struct xray_batch *open;
    bool blocked;
    struct log_complain reject_complain;
    struct log_complain drop_complain;
    struct xray_unprocessed unprocessed[XRAY_MAX_DOCUMENTS];
    struct delivery_runs runs[2]; /* scratch: accepted, rejected */
    struct xray_proxy proxy;      /* the sampling API proxy, when sampling_proxy is set */
};

static const struct cfg_field xray_fields[] = {
    {"max_in_flight", CFG_INT, offsetof(struct xray_config, max_in_flight), "8", 1, 64, NULL, 0,
     "PutTraceSegments requests in flight at once (the X-Ray daemon's Concurrency)"},
    {"max_queued_batches", CFG_INT, offsetof(struct xray_config, max_queued_batches), "4", 1, 256,
     NULL, 0,
     "batches held besides those in flight (the one being filled, sealed ones waiting); when "
     "all are busy documents wait in the ring"},
    {"batch_size", CFG_INT, offsetof(struct xray_config, batch_size), "50", 1, XRAY_MAX_DOCUMENTS,
     NULL, 0, "segment documents per PutTraceSegments call (at most 50)"},
    {"idle_flush", CFG_SECONDS, offsetof(struct xray_config, idle_flush_ns), "1", 0.01, 3600, NULL,
     0, "send a partial batch this long after its last document was added"},
    {"max_batch_age", CFG_SECONDS, offsetof(struct xray_config, max_batch_age_ns), "5", 0.01, 3600,
     NULL, 0, "send a partial batch at the latest this long after its first document"},
    {"gzip", CFG_BOOL, offsetof(struct xray_config, gzip), "false", 0, 0, NULL, 0,
     "compress request bodies (the X-Ray model declares no request compression)"},
    {"gzip_min_bytes", CFG_INT, offsetof(struct xray_config, gzip_min_bytes), "10240", 0, 1 << 24,
     NULL, 0, "compress bodies at least this large"},
    {"request_timeout", CFG_SECONDS, offsetof(struct xray_config, request_timeout_ns), "10", 1, 600,
     NULL, 0, "seconds per HTTP request"},
    {"sampling_proxy", CFG_STRING, offsetof(struct xray_config, sampling_proxy), NULL, 0, 0, NULL,
     0,
     "TCP host:port where X-Ray SDKs' sampling requests (GetSamplingRules, SamplingTargets) are "
     "forwarded to X-Ray, signed (set from traces.traces_collected.xray.tcp_proxy)"},
    CFG_END,
};

static int xray_init(struct exporter *e)
{
    struct xray_exporter *x = e->ctx;
    x->e = e;
    if (aws_connection_check(e, &x->conn, "xray") != 0)
        return -EINVAL;
    x->n_pool = (size_t)(x->cfg.max_in_flight + x->cfg.max_queued_batches);
    x->pool = calloc(x->n_pool, sizeof(*x->pool));
    if (!x->pool)
        return -ENOMEM;
    for (size_t i = 0; i < x->n_pool; i++)
        x->pool[i].owner = x;
    return 0;
}

/* ---- delivery outcomes -------------------------------------------------------------- */

/* Report every document of the batch: `outcome` for all, except those the answer named
 * as unprocessed, which are rejected. */
static void report_batch(struct xray_exporter *x, struct xray_batch *b,
                         enum delivery_outcome outcome)
{
    struct delivery_runs *ok = &x->runs[0], *rejected = &x->runs[1];
    delivery_runs_init(ok);
    delivery_runs_init(rejected);
    for (uint32_t i = 0; i < b->n_docs; i++) {
        bool refused = outcome == DELIVERY_ACCEPTED && b->docs[i].rejected;
        (void)delivery_runs_add(refused ? rejected : ok, &b->hdrs[i]);
    }
    exporter_report_runs(x->e, ok, outcome);
    exporter_report_runs(x->e, rejected, DELIVERY_REJECTED);
}

/* ---- sealing and sending ------------------------------------------------------------ */

static void batch_free(struct xray_batch *b)
{
    aws_batch_reset(&b->aws);
    b->n_docs = 0;
    b->unprocessed = 0;
    b->state = XRAY_FREE;
}

static void seal(struct xray_exporter *x)
{
    struct xray_batch *b = x->open;
    if (!b)
        return;
    x->open = NULL;
    if (b->n_docs == 0) {
        batch_free(b);
        return;
    }
    if (xray_body_end(&b->aws.body) != 0) {
        /* Cannot happen: the body's cap holds 50 documents of the worst size. */
        selfstats_drop(&x->e->stats, DROP_INVALID, b->n_docs);
        report_batch(x, b, DELIVERY_REJECTED);
        batch_free(b);
        return;
    }
    b->aws.records = b->n_docs;
    b->aws.target = NULL;
    b->aws.content_type = "application/json";
    snprintf(b->aws.path, sizeof(b->aws.path), "/TraceSegments");
    b->state = XRAY_SENDING;
    b->unprocessed = 0;
    aws_sender_enqueue(&x->sender, &b->aws);
}

/* When the open batch is due: idle_flush after its last document, max_batch_age after
 * its first. */
static uint64_t open_due_ns(struct xray_exporter *x)
{
    struct xray_batch *b = x->open;
    uint64_t idle = b->last_add_ns + x->cfg.idle_flush_ns;
    uint64_t age = b->opened_ns + x->cfg.max_batch_age_ns;
    return idle < age ? idle : age;
}

static void on_flush_timer(uv_timer_t *h);

static void schedule_flush(struct xray_exporter *x, uint64_t due_ns)
{
    if (!x->timer_open)
        return;
    uint64_t now = clock_monotonic_ns();
    uint64_t wait_ms = due_ns > now ? (due_ns - now + NS_PER_MS - 1) / NS_PER_MS : 0;
    uv_timer_start(&x->flush_timer, on_flush_timer, wait_ms, 0);
}

static void on_flush_timer(uv_timer_t *h)
{
    struct xray_exporter *x = h->data;
    if (!x->open)
        return;
    uint64_t due = open_due_ns(x);
    if (clock_monotonic_ns() >= due)
        seal(x);
    else
        schedule_flush(x, due);
}

/* ---- sender callbacks --------------------------------------------------------------- */

/* A 200 JSON answer whose body cannot be read proves nothing about what was stored: the
 * batch is sent again (at-least-once; the sender already did the same for answers in
 * another format). Returns false for such an answer. */
static bool read_answer(struct xray_exporter *x, struct xray_batch *b,
                        const struct http_response *r)
{
    size_t total = 0;
    int rc = xray_parse_response(r->body, r->body_len, x->unprocessed, XRAY_MAX_DOCUMENTS, &total);
    if (rc != 0) {
        selfstats_add(&x->e->stats.errors, 1);
        log_complain(&x->reject_complain, LOG_LEVEL_WARN, x->e->name,
                     "malformed PutTraceSegments answer (HTTP 200, %zu bytes), sending the "
                     "batch again",
                     r->body_len);
        return false;
    }
    if (total == 0)
        return true;
    if (total > b->n_docs)
        total = b->n_docs; /* a confused answer cannot refuse more than was sent */
    size_t listed = total < XRAY_MAX_DOCUMENTS ? total : XRAY_MAX_DOCUMENTS;
    size_t unmatched = xray_mark_unprocessed(b->docs, b->n_docs, x->unprocessed, listed);
    b->unprocessed = (uint32_t)total;
    selfstats_drop(&x->e->stats, DROP_REJECTED, total);
    const struct xray_unprocessed *u = &x->unprocessed[0];
    log_complain(&x->reject_complain, LOG_LEVEL_WARN, x->e->name,
                 "X-Ray did not process %zu of %u segment documents, not retrying them (first: "
                 "Id '%s', %s: %s)%s",
                 total, b->n_docs, u->id, u->error_code[0] ? u->error_code : "no error code",
                 u->message, unmatched ? "; some named no document of the batch" : "");
    for (size_t k = 0; k < listed && log_get_level() >= LOG_LEVEL_DEBUG; k++)
        log_debug(x->e->name, "unprocessed segment document: Id '%s', %s: %s", x->unprocessed[k].id,
                  x->unprocessed[k].error_code, x->unprocessed[k].message);
    return true;
}

static enum aws_verdict xray_classify(void *user, struct aws_batch *ab,
                                      const struct http_response *r, const struct aws_error *err)
{
    struct xray_exporter *x = user;
    struct xray_batch *b = (struct xray_batch *)ab;
    (void)err;
    if (r->error)
        return AWS_VERDICT_DEFAULT;
    if (r->status >= 200 && r->status < 300)
        return read_answer(x, b, r) ? AWS_VERDICT_OK : AWS_VERDICT_RETRY;
    /* ThrottledException (429) and 5xx are retried, InvalidRequestException (400) is
     * rejected, expired credentials are refreshed: aws.c's generic rules. */
    return AWS_VERDICT_DEFAULT;
}

static void xray_done(void *user, struct aws_batch *ab, enum delivery_outcome outcome)
{
    struct xray_exporter *x = user;
    struct xray_batch *b = (struct xray_batch *)ab;
    if (outcome == DELIVERY_ACCEPTED)
        selfstats_add(&x->e->stats.records_out, b->n_docs - b->unprocessed);
    /* Drops of rejected and given-up batches were counted by the sender. */
    report_batch(x, b, outcome);
    batch_free(b);
    if (x->blocked) {
        x->blocked = false;
        exporter_ready(x->e);
    }
}

/* ---- adding records ----------------------------------------------------------------- */

/* -EAGAIN when every batch is busy (one completing calls exporter_ready), -ENOMEM. */
static int open_batch(struct xray_exporter *x)
{
    struct xray_batch *b = NULL;
    for (size_t i = 0; i < x->n_pool && !b; i++)
        if (x->pool[i].state == XRAY_FREE)
            b = &x->pool[i];
    if (!b)
        return -EAGAIN;
    int r = xray_body_begin(&b->aws.body);
    if (r != 0)
        return r;
    b->state = XRAY_OPEN;
    b->n_docs = 0;
    b->unprocessed = 0;
    b->opened_ns = b->last_add_ns = clock_monotonic_ns();
    x->open = b;
    schedule_flush(x, open_due_ns(x));
    return 0;
}

static int drop_record(struct xray_exporter *x, const struct record_view *v,
                       enum selfstats_drop reason, int err)
{
    selfstats_add(&x->e->stats.records_in, 1);
    selfstats_drop(&x->e->stats, reason, 1); /* the pipeline reports it to the source */
    if (reason == DROP_TOO_LARGE)
        log_complain(&x->drop_complain, LOG_LEVEL_WARN, x->e->name,
                     "segment document of %u bytes is larger than X-Ray's %u-byte limit, "
                     "dropping it",
                     v->u.segment.len, XRAY_MAX_DOCUMENT_BYTES);
    return err;
}

static int xray_add(struct exporter *e, const struct record_view *v)
{
    struct xray_exporter *x = e->ctx;
    const uint8_t *doc = v->u.segment.data;
    size_t len = v->u.segment.len;
    if (len == 0)
        return drop_record(x, v, DROP_INVALID, -EINVAL);
    if (len > XRAY_MAX_DOCUMENT_BYTES)
        return drop_record(x, v, DROP_TOO_LARGE, -EMSGSIZE);

    if (!x->open) {
        int r = open_batch(x);
        if (r == -EAGAIN) {
            x->blocked = true;
            return r;
        }
        if (r != 0)
            return drop_record(x, v, DROP_INVALID, r);
    }
    struct xray_batch *b = x->open;
    int r = xray_body_add(&b->aws.body, b->n_docs == 0, doc, len);
    if (r != 0) {
        if (b->n_docs == 0) {
            x->open = NULL;
            batch_free(b);
        }
        if (r == -EMSGSIZE)
            return drop_record(x, v, DROP_TOO_LARGE, r);
        /* -ENOMEM, or a cap that cannot be reached within XRAY_MAX_BODY_BYTES. */
        return drop_record(x, v, DROP_INVALID, r);
    }
    selfstats_add(&e->stats.records_in, 1);
    selfstats_add(&e->stats.bytes_in, len);
    uint32_t i = b->n_docs++;
    b->hdrs[i] = v->hdr;
    b->docs[i].rejected = false;
    if (xray_document_id(doc, len, b->docs[i].id) != 0)
        b->docs[i].id[0] = '\0';
    b->last_add_ns = clock_monotonic_ns();
    if (b->n_docs >= (uint32_t)x->cfg.batch_size)
        seal(x);
    return 0;
}

static int xray_flush(struct exporter *e)
{
    struct xray_exporter *x = e->ctx;
    if (x->open && (e->draining || clock_monotonic_ns() >= open_due_ns(x)))
        seal(x);
    return 0;
}

static bool xray_idle(struct exporter *e)
{
    struct xray_exporter *x = e->ctx;
    for (size_t i = 0; i < x->n_pool; i++)
        if (x->pool[i].state != XRAY_FREE)
            return false;
    return true;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void on_sender_closed(void *data)
{
    exporter_handle_closed(data);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct xray_exporter *x = h->data;
    exporter_handle_closed(x->e);
}

static int xray_start(struct exporter *e, uv_loop_t *loop)
{
    struct xray_exporter *x = e->ctx;
    struct aws_sender_options o;
    int r = aws_sender_options_init(&o, e, &x->conn, "xray", "xray");
    if (r != 0)
        return r;
    o.protocol = AWS_PROTOCOL_REST_JSON;
    o.gzip = x->cfg.gzip;
    o.gzip_min_bytes = (size_t)x->cfg.gzip_min_bytes;
    o.request_timeout_ms = x->cfg.request_timeout_ns / NS_PER_MS;
    o.max_in_flight = (unsigned)x->cfg.max_in_flight;
    if (o.http.max_connections < (unsigned)x->cfg.max_in_flight)
        o.http.max_connections = (unsigned)x->cfg.max_in_flight;
    struct aws_sender_callbacks cb = {.classify = xray_classify, .done = xray_done};
    r = aws_sender_init(&x->sender, e, loop, &o, &cb, x);
    if (r != 0)
        return r;
    for (size_t i = 0; i < x->n_pool; i++)
        aws_batch_init(&x->sender, &x->pool[i].aws, XRAY_MAX_BODY_BYTES);
    x->sender_ready = true;
    exporter_handle_opened(e);
    uv_timer_init(loop, &x->flush_timer);
    x->flush_timer.data = x;
    x->timer_open = true;
    exporter_handle_opened(e);
    log_info(e->name, "sending to %s (region %s)", o.endpoint.url, o.region);
    if (x->cfg.sampling_proxy && x->cfg.sampling_proxy[0]) {
        r = xray_proxy_start(&x->proxy, e, loop, x->cfg.sampling_proxy, &o);
        if (r != 0)
            return r;
    }
    return 0;
}

static void xray_stop(struct exporter *e)
{
    struct xray_exporter *x = e->ctx;
    if (x->timer_open) {
        x->timer_open = false;
        uv_timer_stop(&x->flush_timer);
        uv_close((uv_handle_t *)&x->flush_timer, on_timer_closed);
    }
    if (!x->sender_ready)
        return;
    /* Whatever was not delivered by the deadline is given up and counted. */
    for (size_t i = 0; i < x->n_pool; i++) {
        struct xray_batch *b = &x->pool[i];
        if (b->state == XRAY_OPEN) {
            selfstats_drop(&e->stats, DROP_SHUTDOWN, b->n_docs);
            report_batch(x, b, DELIVERY_GAVE_UP);
            batch_free(b);
        }
    }
    x->open = NULL;
    x->sender_ready = false;
    xray_proxy_stop(&x->proxy);
    /* Batches in flight finish through xray_done with DELIVERY_GAVE_UP. */
    aws_sender_close(&x->sender, on_sender_closed, e);
}

static void xray_destroy(struct exporter *e)
{
    struct xray_exporter *x = e->ctx;
    for (size_t i = 0; x->pool && i < x->n_pool; i++)
        aws_batch_release(&x->pool[i].aws);
    free(x->pool);
    xray_proxy_release(&x->proxy);
}

const struct exporter_type exporter_xray = {
    .name = "xray",
    .help = "PutTraceSegments to AWS X-Ray (or a compatible endpoint)",
    .kinds = RECORD_KIND_BIT(RECORD_SEGMENT),
    .fields = xray_fields,
    .ctx_size = sizeof(struct xray_exporter),
    .extra_fields = aws_connection_fields,
    .extra_offset = offsetof(struct xray_exporter, conn),
    .init = xray_init,
    .start = xray_start,
    .add = xray_add,
    .flush = xray_flush,
    .idle = xray_idle,
    .stop = xray_stop,
    .destroy = xray_destroy,
};
