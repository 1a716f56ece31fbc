/*
 * cloudwatch_logs: PutLogEvents to CloudWatch Logs (AWS JSON 1.1).
 *
 * DESIGN
 * Records arrive interleaved across log streams. Each (group, stream) being filled owns
 * one batch of a fixed pool; an event is appended to its stream's batch as a JSON
 * fragment plus an index entry (timestamp, offset). A batch is sealed when the next
 * event would break a service rule — 10,000 events, 1,048,576 bytes counted as UTF-8
 * message bytes + 26 per event, a 24 h span — or when it is older than the flush
 * interval, or at shutdown. Sealing sorts the index by timestamp (the service refuses a
 * batch out of chronological order; a stable sort keeps equal timestamps in arrival
 * order) and writes the request body. Sealed batches go to the sender (aws.h) in FIFO
 * order, at most max_in_flight at a time. When no batch is free the exporter answers
 * -EAGAIN and the pipeline holds records in the ring until a batch completes.
 *
 * Events the service would refuse anyway are handled before sending: older than 14 days
 * or more than 2 h in the future -> dropped and counted as rejected; empty -> dropped
 * (invalid); larger than the per-event limit -> truncated and counted. What the service
 * still rejects (rejectedLogEventsInfo, e.g. older than the group's retention) is
 * counted and logged; the batch itself is accepted and never retried for it.
 *
 * A missing stream or group (ResourceNotFoundException) is created — CreateLogStream,
 * and when the group is missing too CreateLogGroup (+ PutRetentionPolicy when
 * configured) — tolerating ResourceAlreadyExistsException, then the batch is resent.
 * The group's class and retention come from the first "log_groups" entry whose name
 * (placeholders expanded as the tailer expands them, collectors/log_names.h, at creation
 * time) is the group, else from the global retention_in_days / log_group_class.
 *
 * Embedded Metric Format events (RECORD_FLAG_EMF) never share a batch with other events:
 * their batches go through a second sender whose requests carry
 * "x-amzn-logs-format: json/emf", as the CloudWatch agent's EMF destination does (the
 * header is per sender, so the pool has one half for each).
 */
#include "exporters/aws.h"
#include "exporters/exporter.h"

#include "agent/clock.h"
#include "agent/jsonw.h"
#include "agent/log.h"
#include "agent/pipeline.h"
#include "collectors/log_names.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CWL_MAX_EVENTS      10000u
#define CWL_MAX_BATCH_BYTES 1048576u
#define CWL_EVENT_OVERHEAD  26u
#define CWL_MAX_EVENT_BYTES (CWL_MAX_BATCH_BYTES - CWL_EVENT_OVERHEAD)
#define CWL_MAX_SPAN_MS     (24ull * 3600 * 1000)
#define CWL_MAX_AGE_MS      (14ull * 24 * 3600 * 1000)
#define CWL_MAX_FUTURE_MS   (2ull * 3600 * 1000)
#define CWL_MAX_NAME        512u
/* JSON text of a batch: escaping can grow a message up to 6x. */
#define CWL_MAX_JSON_BYTES (8u << 20)

static const char *const log_group_classes[] = {"", "STANDARD", "INFREQUENT_ACCESS", "DELIVERY",
                                                NULL};

struct cwl_config {
    int64_t max_in_flight;
    int64_t max_open_streams;
    uint64_t flush_interval_ns;
    int64_t retention_in_days;
    int log_group_class;
    bool gzip;
    int64_t gzip_min_bytes;
    uint64_t request_timeout_ns;
    json_t *log_groups;
};

/* One "log_groups" entry: settings for the groups this name template expands to. */
struct cwl_group_setting {
    const char *name;          /* a key of cfg.log_groups (borrowed) */
    int64_t retention_in_days; /* 0 = the global one */
    int log_group_class;       /* 0 = the global one */
};

struct cwl_event_ref {
    uint64_t ts_ms;
    uint32_t off;
    uint32_t len;
    uint32_t seq; /* arrival order: index into cwl_batch.sources */
};

/* Where an event came from, in arrival order, for per-record outcomes. */
struct cwl_event_source {
    uint64_t cookie;
    uint16_t source;
    bool rejected; /* refused by the service (rejectedLogEventsInfo) */
};

enum cwl_fix_step {
    CWL_FIX_NONE = 0,
    CWL_FIX_STREAM,
    CWL_FIX_GROUP,
    CWL_FIX_RETENTION,
    CWL_FIX_STREAM_AFTER_GROUP,
};

enum cwl_batch_state {
    CWL_FREE = 0,
    CWL_OPEN,
    CWL_SENDING, /* with the sender: queued, in flight or retrying */
    CWL_SEALED,  /* body built, waiting for an earlier batch of its stream to finish */
};

struct cwl_batch {
    struct aws_batch aws;
    struct cwl_exporter *owner;
    enum cwl_batch_state state;
    char group[CWL_MAX_NAME + 1];
    char stream[CWL_MAX_NAME + 1];
    struct buf fragments;
    struct cwl_event_ref *events;
    struct cwl_event_source *sources;
    uint32_t n_events;
    uint32_t n_rejected;
    uint64_t bytes; /* as the service counts them */
    uint64_t min_ts_ms, max_ts_ms;
    uint64_t opened_ns;
    enum cwl_fix_step fix;
    bool emf;            /* of the EMF half of the pool: sent with x-amzn-logs-format: json/emf */
    uint64_t sealed_seq; /* seal order, for CWL_SEALED batches of one stream */
};

struct cwl_exporter {
    struct cwl_config cfg;
    struct aws_connection conn;
    struct exporter *e;
    struct aws_sender sender;
    struct aws_sender emf_sender;
    bool sender_ready;
    uint64_t sealed_seq;
    struct cwl_batch *pool; /* [0, n_pool/2): plain events, [n_pool/2, n_pool): EMF */
    size_t n_pool;
    bool blocked;
    struct log_complain reject_complain;
    struct buf scratch;
    struct cwl_group_setting *groups;
    size_t n_groups;
};

static const struct cfg_field cwl_fields[] = {
    {"max_in_flight", CFG_INT, offsetof(struct cwl_config, max_in_flight), "4", 1, 64, NULL, 0,
     "PutLogEvents requests in flight at once"},
    {"max_open_streams", CFG_INT, offsetof(struct cwl_config, max_open_streams), "8", 1, 1024, NULL,
     0, "log streams batched at the same time"},
    {"force_flush_interval", CFG_SECONDS, offsetof(struct cwl_config, flush_interval_ns), "5", 0.05,
     3600, NULL, 0, "longest time an event waits in a batch"},
    {"retention_in_days", CFG_INT, offsetof(struct cwl_config, retention_in_days), "0", 0, 3653,
     NULL, 0, "retention set on log groups Osprey creates (0 = never expire)"},
    {"log_group_class", CFG_ENUM, offsetof(struct cwl_config, log_group_class), "", 0, 0,
     log_group_classes, 0, "class of log groups Osprey creates"},
    {"gzip", CFG_BOOL, offsetof(struct cwl_config, gzip), "true", 0, 0, NULL, 0,
     "compress request bodies"},
    {"gzip_min_bytes", CFG_INT, offsetof(struct cwl_config, gzip_min_bytes), "10240", 0, 1 << 24,
     NULL, 0, "compress bodies at least this large"},
    {"request_timeout", CFG_SECONDS, offsetof(struct cwl_config, request_timeout_ns), "30", 1, 600,
     NULL, 0, "seconds per HTTP request"},
    {"log_groups", CFG_JSON, offsetof(struct cwl_config, log_groups), NULL, 0, 0, NULL, 0,
     "per group: {\"<name>\": {\"retention_in_days\": N, \"log_group_class\": \"...\"}} "
     "(names may use the collect_list placeholders; filled from collect_list entries)"},
    CFG_END,
};

static const int retention_days[] = {1,   3,   5,   7,   14,   30,   60,   90,   120,  150,  180,
                                     365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653};

static bool valid_group_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CWL_MAX_NAME)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("._-/#", *s)))
            return false;
    return true;
}

static bool valid_retention(int64_t days)
{
    for (size_t i = 0; i < sizeof(retention_days) / sizeof(retention_days[0]); i++)
        if (retention_days[i] == days)
            return true;
    return false;
}

/* "log_groups": an object of objects with only retention_in_days and log_group_class. */
static int parse_group_settings(struct exporter *e, struct cwl_exporter *x)
{
    json_t *all = x->cfg.log_groups;
    if (!all)
        return 0;
    if (!json_is_object(all)) {
        exporter_config_error(e, "log_groups", "must be an object of group name -> settings");
        return -EINVAL;
    }
    x->groups = json_object_size(all) ? calloc(json_object_size(all), sizeof(*x->groups)) : NULL;
    if (json_object_size(all) && !x->groups)
        return -ENOMEM;
    const char *name;
    json_t *v;
    json_object_foreach(all, name, v)
    {
        char err[256];
        struct cwl_group_setting *g = &x->groups[x->n_groups];
        g->name = name;
        if (log_names_check(name, err, sizeof(err)) != 0) {
            exporter_config_error(e, "log_groups", "'%s': %s", name, err);
            return -EINVAL;
        }
        if (!json_is_object(v)) {
            exporter_config_error(e, "log_groups", "'%s' must be an object", name);
            return -EINVAL;
        }
        const char *key;
        json_t *kv;
        json_object_foreach(v, key, kv)
        {
            if (strcmp(key, "retention_in_days") == 0) {
                if (!json_is_integer(kv) || !valid_retention(json_integer_value(kv))) {
                    exporter_config_error(e, "log_groups",
                                          "'%s': retention_in_days must be one of 1, 3, 5, 7, "
                                          "14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, "
                                          "1096, 1827, 2192, 2557, 2922, 3288, 3653",
                                          name);
                    return -EINVAL;
                }
                g->retention_in_days = json_integer_value(kv);
                continue;
            }
            if (strcmp(key, "log_group_class") == 0) {
                for (int c = 1; json_is_string(kv) && log_group_classes[c]; c++)
                    if (strcmp(json_string_value(kv), log_group_classes[c]) == 0)
                        g->log_group_class = c;
                if (!g->log_group_class) {
                    exporter_config_error(e, "log_groups",
                                          "'%s': log_group_class must be STANDARD, "
                                          "INFREQUENT_ACCESS or DELIVERY",
                                          name);
                    return -EINVAL;
                }
                continue;
            }
            exporter_config_error(e, "log_groups",
                                  "'%s': unknown key '%s' (supported: retention_in_days, "
                                  "log_group_class)",
                                  name, key);
            return -EINVAL;
        }
        x->n_groups++;
    }
    return 0;
}

/* The settings for creating `group`: the first log_groups entry naming it, else NULL.
 * Expanded on each call ({date} moves on; instance metadata arrives after init); called
 * only when a group has to be created. */
static const struct cwl_group_setting *group_setting(const struct cwl_exporter *x,
                                                     const char *group)
{
    char name[LOG_NAMES_MAX + 1];
    uint64_t now = clock_realtime_ns();
    for (size_t i = 0; i < x->n_groups; i++)
        if (log_names_expand(x->groups[i].name, x->e->env, now, name, sizeof(name)) >= 0 &&
            strcmp(name, group) == 0)
            return &x->groups[i];
    return NULL;
}

static int64_t group_retention(const struct cwl_exporter *x, const char *group)
{
    const struct cwl_group_setting *g = group_setting(x, group);
    return g && g->retention_in_days ? g->retention_in_days : x->cfg.retention_in_days;
}

static int group_class(const struct cwl_exporter *x, const char *group)
{
    const struct cwl_group_setting *g = group_setting(x, group);
    return g && g->log_group_class ? g->log_group_class : x->cfg.log_group_class;
}

static bool valid_stream_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= CWL_MAX_NAME && !strpbrk(s, ":*");
}

static int cwl_init(struct exporter *e)
{
    struct cwl_exporter *x = e->ctx;
    x->e = e;
    bool ok = x->cfg.retention_in_days == 0;
    for (size_t i = 0; i < sizeof(retention_days) / sizeof(retention_days[0]); i++)
        ok |= retention_days[i] == x->cfg.retention_in_days;
    if (!ok) {
        exporter_config_error(e, "retention_in_days",
                              "%lld is not a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, "
                              "30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, "
                              "2557, 2922, 3288, 3653)",
                              (long long)x->cfg.retention_in_days);
        return -EINVAL;
    }
    int pr = parse_group_settings(e, x);
    if (pr != 0)
        return pr;
    if (aws_connection_check(e, &x->conn, "logs") != 0)
        return -EINVAL;
    x->n_pool = 2 * (size_t)(x->cfg.max_in_flight + x->cfg.max_open_streams);
    x->pool = calloc(x->n_pool, sizeof(*x->pool));
    if (!x->pool)
        return -ENOMEM;
    for (size_t i = 0; i < x->n_pool; i++) {
        struct cwl_batch *b = &x->pool[i];
        b->owner = x;
        b->emf = i >= x->n_pool / 2;
        buf_init(&b->fragments, CWL_MAX_JSON_BYTES);
    }
    buf_init(&x->scratch, CWL_MAX_EVENT_BYTES * 2);
    return 0;
}

/* ---- sealing and sending ------------------------------------------------------------ */

static int compare_events(const void *a, const void *b)
{
    const struct cwl_event_ref *x = a, *y = b;
    if (x->ts_ms != y->ts_ms)
        return x->ts_ms < y->ts_ms ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off; /* arrival order: stable */
}

static int build_body(struct cwl_batch *b)
{
    struct buf *body = &b->aws.body;
    buf_reset(body);
    qsort(b->events, b->n_events, sizeof(*b->events), compare_events);
    int r = buf_append_str(body, "{\"logGroupName\":");
    if (r == 0)
        r = jsonw_cstring(body, b->group);
    if (r == 0)
        r = buf_append_str(body, ",\"logStreamName\":");
    if (r == 0)
        r = jsonw_cstring(body, b->stream);
    if (r == 0)
        r = buf_append_str(body, ",\"logEvents\":[");
    for (uint32_t i = 0; r == 0 && i < b->n_events; i++) {
        if (i)
            r = buf_append(body, ",", 1);
        if (r == 0)
            r = buf_append(body, b->fragments.data + b->events[i].off, b->events[i].len);
    }
    if (r == 0)
        r = buf_append_str(body, "]}");
    return r;
}

static bool stream_busy(const struct cwl_exporter *x, const struct cwl_batch *b)
{
    for (size_t i = 0; i < x->n_pool; i++) {
        const struct cwl_batch *o = &x->pool[i];
        if (o != b && (o->state == CWL_SENDING || o->state == CWL_SEALED) && o->emf == b->emf &&
            strcmp(o->group, b->group) == 0 && strcmp(o->stream, b->stream) == 0)
            return true;
    }
    return false;
}

static void seal(struct cwl_exporter *x, struct cwl_batch *b)
{
    if (b->state != CWL_OPEN)
        return;
    if (build_body(b) != 0) {
        /* Cannot happen within the caps (checked while adding); count, never hang. */
        selfstats_drop(&x->e->stats, DROP_INVALID, b->n_events);
        exporter_report_runs(x->e, &b->aws.runs, DELIVERY_REJECTED);
        b->state = CWL_FREE;
        return;
    }
    b->aws.records = b->n_events;
    b->aws.target = "Logs_20140328.PutLogEvents";
    b->aws.content_type = "application/x-amz-json-1.1";
    snprintf(b->aws.path, sizeof(b->aws.path), "/");
    b->fix = CWL_FIX_NONE;
    /* One batch per stream at a time: batches sent in parallel (or one retried while the
     * next goes through) would reach the stream out of order, and a tailed file's lines
     * must arrive in the order they were written. Other streams still go in parallel. */
    if (stream_busy(x, b)) {
        b->state = CWL_SEALED;
        b->sealed_seq = ++x->sealed_seq;
        return;
    }
    b->state = CWL_SENDING;
    aws_sender_enqueue(b->aws.sender, &b->aws);
}

/* After a batch of (emf, group, stream) finished: send the next one sealed for it. */
static void send_next_sealed(struct cwl_exporter *x, bool emf, const char *group,
                             const char *stream)
{
    struct cwl_batch *next = NULL;
    for (size_t i = 0; i < x->n_pool; i++) {
        struct cwl_batch *b = &x->pool[i];
        if (b->state == CWL_SEALED && b->emf == emf && strcmp(b->group, group) == 0 &&
            strcmp(b->stream, stream) == 0 && (!next || b->sealed_seq < next->sealed_seq))
            next = b;
    }
    if (next) {
        next->state = CWL_SENDING;
        aws_sender_enqueue(next->aws.sender, &next->aws);
    }
}

static void batch_free(struct cwl_batch *b)
{
    aws_batch_reset(&b->aws);
    buf_reset(&b->fragments);
    b->n_events = 0;
    b->n_rejected = 0;
    b->bytes = 0;
    b->group[0] = b->stream[0] = '\0';
    b->state = CWL_FREE;
}

/* A 200 JSON answer whose body cannot be read proves nothing about what was stored: the
 * batch is sent again (at-least-once; the sender already did the same for answers in
 * another format). Returns false for such an answer. */
static bool count_rejected_events(struct cwl_exporter *x, struct cwl_batch *b,
                                  const struct http_response *r)
{
    json_t *j = json_loadb((const char *)r->body, r->body_len, 0, NULL);
    if (!json_is_object(j)) {
        selfstats_add(&x->e->stats.errors, 1);
        log_complain(&x->reject_complain, LOG_LEVEL_WARN, x->e->name,
                     "malformed PutLogEvents answer (HTTP 200, %zu bytes), sending the batch "
                     "again",
                     r->body_len);
        if (j)
            json_decref(j);
        return false;
    }
    json_t *info = j ? json_object_get(j, "rejectedLogEventsInfo") : NULL;
    if (json_is_object(info)) {
        json_t *too_new = json_object_get(info, "tooNewLogEventStartIndex");
        json_t *too_old = json_object_get(info, "tooOldLogEventEndIndex");
        json_t *expired = json_object_get(info, "expiredLogEventEndIndex");
        uint64_t old_end = 0, rejected = 0;
        if (json_is_integer(too_old) && json_integer_value(too_old) > 0)
            old_end = (uint64_t)json_integer_value(too_old);
        if (json_is_integer(expired) && (uint64_t)json_integer_value(expired) > old_end)
            old_end = (uint64_t)json_integer_value(expired);
        if (old_end > b->n_events)
            old_end = b->n_events;
        rejected = old_end;
        if (json_is_integer(too_new) && json_integer_value(too_new) >= 0 &&
            (uint64_t)json_integer_value(too_new) < b->n_events)
            rejected += b->n_events - (uint64_t)json_integer_value(too_new);
        if (rejected > b->n_events)
            rejected = b->n_events;
        /* The indices refer to the batch as sent, i.e. sorted: mark those events. */
        uint64_t new_start = b->n_events - (rejected - old_end);
        b->n_rejected = 0;
        for (uint32_t i = 0; i < b->n_events; i++) {
            bool refused = i < old_end || i >= new_start;
            b->sources[b->events[i].seq].rejected = refused;
            b->n_rejected += refused;
        }
        if (rejected) {
            selfstats_drop(&x->e->stats, DROP_REJECTED, rejected);
            log_complain(&x->reject_complain, LOG_LEVEL_WARN, x->e->name,
                         "CloudWatch Logs rejected %llu of %u events for '%s'/'%s' (too old, too "
                         "new or past retention), not retrying them",
                         (unsigned long long)rejected, b->n_events, b->group, b->stream);
        }
    }
    json_decref(j);
    return true;
}

/* ---- creating missing groups and streams -------------------------------------------- */

static void fix_step(struct cwl_batch *b);

static void on_fix_answer(void *data, const struct http_response *r, const struct aws_error *err)
{
    struct cwl_batch *b = data;
    char why[700];
    bool ok = !r->error && r->status >= 200 && r->status < 300;
    bool exists = strcmp(err->code, "ResourceAlreadyExistsException") == 0;
    if (r->error)
        snprintf(why, sizeof(why), "%s", r->error_text);
    else
        snprintf(why, sizeof(why), "HTTP %ld %s: %s", r->status, err->code, err->message);

    switch (b->fix) {
    case CWL_FIX_STREAM:
        if (ok || exists) {
            aws_batch_continue(&b->aws, AWS_VERDICT_RESEND, NULL);
        } else if (strcmp(err->code, "ResourceNotFoundException") == 0) {
            b->fix = CWL_FIX_GROUP;
            fix_step(b);
        } else {
            aws_batch_continue(&b->aws, AWS_VERDICT_RETRY, why);
        }
        return;
    case CWL_FIX_GROUP:
        if (ok || exists) {
            b->fix = ok && group_retention(b->owner, b->group) ? CWL_FIX_RETENTION
                                                               : CWL_FIX_STREAM_AFTER_GROUP;
            fix_step(b);
        } else {
            aws_batch_continue(&b->aws,
                               strcmp(err->code, "InvalidParameterException") == 0
                                   ? AWS_VERDICT_REJECT
                                   : AWS_VERDICT_RETRY,
                               why);
        }
        return;
    case CWL_FIX_RETENTION:
        if (!ok)
            log_warn(b->owner->e->name, "cannot set retention on '%s': %s, ignoring", b->group,
                     why);
        b->fix = CWL_FIX_STREAM_AFTER_GROUP;
        fix_step(b);
        return;
    case CWL_FIX_STREAM_AFTER_GROUP:
        if (ok || exists)
            aws_batch_continue(&b->aws, AWS_VERDICT_RESEND, NULL);
        else
            aws_batch_continue(&b->aws, AWS_VERDICT_RETRY, why);
        return;
    case CWL_FIX_NONE:
        return;
    }
}

static void fix_step(struct cwl_batch *b)
{
    struct cwl_exporter *x = b->owner;
    struct buf *s = &x->scratch;
    const char *target = NULL;
    int group_cls = 0;
    buf_reset(s);
    int r = buf_append_str(s, "{\"logGroupName\":");
    if (r == 0)
        r = jsonw_cstring(s, b->group);
    switch (b->fix) {
    case CWL_FIX_STREAM:
    case CWL_FIX_STREAM_AFTER_GROUP:
        target = "Logs_20140328.CreateLogStream";
        if (r == 0)
            r = buf_append_str(s, ",\"logStreamName\":");
        if (r == 0)
            r = jsonw_cstring(s, b->stream);
        break;
    case CWL_FIX_GROUP:
        target = "Logs_20140328.CreateLogGroup";
        if (r == 0 && (group_cls = group_class(x, b->group)) != 0)
            r = buf_printf(s, ",\"logGroupClass\":\"%s\"", log_group_classes[group_cls]);
        break;
    case CWL_FIX_RETENTION:
        target = "Logs_20140328.PutRetentionPolicy";
        if (r == 0)
            r = buf_printf(s, ",\"retentionInDays\":%lld", (long long)group_retention(x, b->group));
        break;
    case CWL_FIX_NONE:
        return;
    }
    if (r == 0)
        r = buf_append_str(s, "}");
    if (r == 0)
        r = aws_sender_call(b->aws.sender, "/", target, "application/x-amz-json-1.1", s->data,
                            s->len, on_fix_answer, b);
    if (r != 0) {
        char why[128];
        snprintf(why, sizeof(why), "cannot call %s: %s", target, strerror(-r));
        aws_batch_continue(&b->aws, AWS_VERDICT_RETRY, why);
    }
}

/* ---- sender callbacks --------------------------------------------------------------- */

static enum aws_verdict cwl_classify(void *user, struct aws_batch *ab,
                                     const struct http_response *r, const struct aws_error *err)
{
    struct cwl_exporter *x = user;
    struct cwl_batch *b = (struct cwl_batch *)ab;
    if (r->error)
        return AWS_VERDICT_DEFAULT;
    if (r->status >= 200 && r->status < 300)
        return count_rejected_events(x, b, r) ? AWS_VERDICT_OK : AWS_VERDICT_RETRY;
    if (strcmp(err->code, "ResourceNotFoundException") == 0) {
        b->fix = CWL_FIX_STREAM;
        fix_step(b);
        return AWS_VERDICT_HOLD;
    }
    if (strcmp(err->code, "DataAlreadyAcceptedException") == 0)
        return AWS_VERDICT_OK;
    if (strcmp(err->code, "InvalidSequenceTokenException") == 0)
        return AWS_VERDICT_RESEND;
    return AWS_VERDICT_DEFAULT;
}

static void cwl_done(void *user, struct aws_batch *ab, enum delivery_outcome outcome)
{
    struct cwl_exporter *x = user;
    struct cwl_batch *b = (struct cwl_batch *)ab;
    if (outcome == DELIVERY_ACCEPTED)
        selfstats_add(&x->e->stats.records_out, b->n_events - b->n_rejected);
    if (outcome == DELIVERY_ACCEPTED && b->n_rejected) {
        struct delivery_ack cur = {0};
        for (uint32_t i = 0; i < b->n_events; i++)
            delivery_stretch_add(x->e, &cur, b->sources[i].source, b->sources[i].cookie,
                                 b->sources[i].rejected ? DELIVERY_REJECTED : DELIVERY_ACCEPTED);
        delivery_stretch_end(x->e, &cur);
        delivery_runs_init(&b->aws.runs);
    } else {
        exporter_report_runs(x->e, &b->aws.runs, outcome);
    }
    char group[CWL_MAX_NAME + 1], stream[CWL_MAX_NAME + 1];
    bool emf = b->emf;
    memcpy(group, b->group, sizeof(group));
    memcpy(stream, b->stream, sizeof(stream));
    batch_free(b);
    send_next_sealed(x, emf, group, stream);
    if (x->blocked) {
        x->blocked = false;
        exporter_ready(x->e);
    }
}

/* ---- adding records ----------------------------------------------------------------- */

static struct cwl_batch *find_open(struct cwl_exporter *x, const char *group, const char *stream,
                                   bool emf)
{
    for (size_t i = 0; i < x->n_pool; i++) {
        struct cwl_batch *b = &x->pool[i];
        if (b->state == CWL_OPEN && b->emf == emf && strcmp(b->group, group) == 0 &&
            strcmp(b->stream, stream) == 0)
            return b;
    }
    return NULL;
}

static struct cwl_batch *open_batch(struct cwl_exporter *x, const char *group, const char *stream,
                                    bool emf)
{
    struct cwl_batch *free_b = NULL, *oldest = NULL;
    for (size_t i = 0; i < x->n_pool; i++) {
        struct cwl_batch *b = &x->pool[i];
        if (b->state == CWL_FREE && b->emf == emf && !free_b)
            free_b = b;
        if (b->state == CWL_OPEN && (!oldest || b->opened_ns < oldest->opened_ns))
            oldest = b;
    }
    size_t open = 0;
    for (size_t i = 0; i < x->n_pool; i++)
        open += x->pool[i].state == CWL_OPEN;
    if (oldest && (!free_b || open >= (size_t)x->cfg.max_open_streams)) {
        /* Too many streams at once: send the one that has waited longest. */
        seal(x, oldest);
        if (!free_b)
            return NULL;
    }
    if (!free_b)
        return NULL;
    if (!free_b->events) {
        free_b->events = calloc(CWL_MAX_EVENTS, sizeof(*free_b->events));
        free_b->sources = calloc(CWL_MAX_EVENTS, sizeof(*free_b->sources));
        if (!free_b->events || !free_b->sources)
            return NULL;
    }
    snprintf(free_b->group, sizeof(free_b->group), "%s", group);
    snprintf(free_b->stream, sizeof(free_b->stream), "%s", stream);
    free_b->state = CWL_OPEN;
    free_b->opened_ns = clock_monotonic_ns();
    free_b->n_events = 0;
    free_b->bytes = 0;
    return free_b;
}

/* Longest prefix of s[0..len) that is at most max bytes and does not cut a UTF-8
 * sequence. */
static size_t utf8_prefix(const uint8_t *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && (s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static int cwl_take(struct exporter *e, const struct record_view *v)
{
    struct cwl_exporter *x = e->ctx;
    const struct log_event *ev = &v->u.log;

    if (!valid_group_name(ev->group) || !valid_stream_name(ev->stream)) {
        selfstats_drop(&e->stats, DROP_INVALID, 1);
        log_complain(&x->reject_complain, LOG_LEVEL_ERROR, e->name,
                     "invalid log group or stream name '%s'/'%s', dropping the event", ev->group,
                     ev->stream);
        return -EINVAL;
    }
    if (ev->message_len == 0) {
        selfstats_drop(&e->stats, DROP_INVALID, 1);
        return -EINVAL;
    }
    uint64_t ts_ms = v->hdr.ts_ns / NS_PER_MS;
    uint64_t now_ms = clock_realtime_ns() / NS_PER_MS;
    if (ts_ms + CWL_MAX_AGE_MS < now_ms || ts_ms > now_ms + CWL_MAX_FUTURE_MS) {
        selfstats_drop(&e->stats, DROP_REJECTED, 1);
        log_complain(&x->reject_complain, LOG_LEVEL_WARN, e->name,
                     "event for '%s'/'%s' is older than 14 days or more than 2 hours in the "
                     "future; CloudWatch Logs would reject it, dropping",
                     ev->group, ev->stream);
        return -EINVAL;
    }

    /* Encode the fragment first: its UTF-8 size (after repair) decides where it goes. */
    size_t msg_len = ev->message_len;
    bool truncated = false;
    uint64_t utf8;
    for (;;) {
        buf_reset(&x->scratch);
        size_t repaired = 0;
        int r =
            buf_printf(&x->scratch, "{\"timestamp\":%llu,\"message\":", (unsigned long long)ts_ms);
        if (r == 0)
            r = jsonw_string(&x->scratch, ev->message, msg_len, &repaired);
        if (r == 0)
            r = buf_append_str(&x->scratch, "}");
        if (r != 0) {
            selfstats_drop(&e->stats, DROP_INVALID, 1);
            return -EINVAL;
        }
        /* Each repaired byte became U+FFFD, three bytes of UTF-8. */
        utf8 = msg_len + 2 * repaired;
        if (utf8 <= CWL_MAX_EVENT_BYTES)
            break;
        /* Over the per-event limit: keep what fits (the source should split long
         * events; this is the last line of defence). */
        size_t target = CWL_MAX_EVENT_BYTES - (size_t)(utf8 - msg_len);
        msg_len = utf8_prefix(ev->message, msg_len, target < msg_len ? target : msg_len - 1);
        truncated = true;
    }
    uint64_t size = utf8 + CWL_EVENT_OVERHEAD;

    bool emf = (v->hdr.flags & RECORD_FLAG_EMF) != 0;
    struct cwl_batch *b = find_open(x, ev->group, ev->stream, emf);
    if (b) {
        uint64_t lo = ts_ms < b->min_ts_ms ? ts_ms : b->min_ts_ms;
        uint64_t hi = ts_ms > b->max_ts_ms ? ts_ms : b->max_ts_ms;
        if (b->n_events >= CWL_MAX_EVENTS || b->bytes + size > CWL_MAX_BATCH_BYTES ||
            hi - lo >= CWL_MAX_SPAN_MS ||
            b->fragments.len + x->scratch.len + b->n_events + 2048 > CWL_MAX_JSON_BYTES ||
            !delivery_runs_has_room(&b->aws.runs, &v->hdr)) {
            seal(x, b);
            b = NULL;
        }
    }
    if (!b) {
        b = open_batch(x, ev->group, ev->stream, emf);
        if (!b) {
            x->blocked = true;
            return -EAGAIN;
        }
        b->min_ts_ms = b->max_ts_ms = ts_ms;
    }
    uint32_t off = (uint32_t)b->fragments.len;
    if (buf_append(&b->fragments, x->scratch.data, x->scratch.len) != 0) {
        selfstats_drop(&e->stats, DROP_INVALID, 1);
        return -EINVAL;
    }
    b->sources[b->n_events] = (struct cwl_event_source){v->hdr.cookie, v->hdr.source, false};
    b->events[b->n_events] =
        (struct cwl_event_ref){ts_ms, off, (uint32_t)x->scratch.len, b->n_events};
    b->n_events++;
    b->bytes += size;
    if (ts_ms < b->min_ts_ms)
        b->min_ts_ms = ts_ms;
    if (ts_ms > b->max_ts_ms)
        b->max_ts_ms = ts_ms;
    (void)delivery_runs_add(&b->aws.runs, &v->hdr);
    if (truncated) {
        selfstats_add(&e->stats.errors, 1);
        log_complain(&x->reject_complain, LOG_LEVEL_WARN, e->name,
                     "an event for '%s'/'%s' was larger than %u bytes and was truncated", ev->group,
                     ev->stream, CWL_MAX_EVENT_BYTES);
    }
    return 0;
}

static int cwl_add(struct exporter *e, const struct record_view *v)
{
    int r = cwl_take(e, v);
    if (r != -EAGAIN) /* a refused record comes again: count it once, when taken or dropped */
        selfstats_add(&e->stats.records_in, 1);
    return r;
}

static int cwl_flush(struct exporter *e)
{
    struct cwl_exporter *x = e->ctx;
    uint64_t now = clock_monotonic_ns();
    for (size_t i = 0; i < x->n_pool; i++) {
        struct cwl_batch *b = &x->pool[i];
        if (b->state == CWL_OPEN && (e->draining || now - b->opened_ns >= x->cfg.flush_interval_ns))
            seal(x, b);
    }
    return 0;
}

static bool cwl_idle(struct exporter *e)
{
    struct cwl_exporter *x = e->ctx;
    for (size_t i = 0; i < x->n_pool; i++)
        if (x->pool[i].state != CWL_FREE)
            return false;
    return true;
}

static void on_sender_closed(void *data)
{
    struct exporter *e = data;
    exporter_handle_closed(e);
}

static int cwl_start(struct exporter *e, uv_loop_t *loop)
{
    struct cwl_exporter *x = e->ctx;
    struct aws_sender_options o;
    int r = aws_sender_options_init(&o, e, &x->conn, "logs", "logs");
    if (r != 0)
        return r;
    o.protocol = AWS_PROTOCOL_JSON;
    o.gzip = x->cfg.gzip;
    o.gzip_min_bytes = (size_t)x->cfg.gzip_min_bytes;
    o.request_timeout_ms = x->cfg.request_timeout_ns / NS_PER_MS;
    o.max_in_flight = (unsigned)x->cfg.max_in_flight;
    struct aws_sender_callbacks cb = {.classify = cwl_classify, .done = cwl_done};
    r = aws_sender_init(&x->sender, e, loop, &o, &cb, x);
    if (r != 0)
        return r;
    exporter_handle_opened(e);
    o.extra_header = (struct http_header){"x-amzn-logs-format", "json/emf"};
    r = aws_sender_init(&x->emf_sender, e, loop, &o, &cb, x);
    if (r != 0) {
        aws_sender_close(&x->sender, on_sender_closed, e);
        return r;
    }
    exporter_handle_opened(e);
    for (size_t i = 0; i < x->n_pool; i++)
        aws_batch_init(x->pool[i].emf ? &x->emf_sender : &x->sender, &x->pool[i].aws,
                       CWL_MAX_JSON_BYTES);
    x->sender_ready = true;
    log_info(e->name, "sending to %s (region %s)", o.endpoint.url, o.region);
    return 0;
}

static void cwl_stop(struct exporter *e)
{
    struct cwl_exporter *x = e->ctx;
    if (!x->sender_ready)
        return;
    /* Whatever was not delivered by the deadline is given up: unacknowledged records of
     * durable sources are read again after a restart. */
    for (size_t i = 0; i < x->n_pool; i++) {
        struct cwl_batch *b = &x->pool[i];
        if (b->state == CWL_OPEN) {
            selfstats_drop(&e->stats, DROP_SHUTDOWN, b->n_events);
            exporter_report_runs(e, &b->aws.runs, DELIVERY_GAVE_UP);
            batch_free(b);
        }
    }
    x->sender_ready = false;
    aws_sender_close(&x->sender, on_sender_closed, e);
    aws_sender_close(&x->emf_sender, on_sender_closed, e);
}

static void cwl_destroy(struct exporter *e)
{
    struct cwl_exporter *x = e->ctx;
    for (size_t i = 0; x->pool && i < x->n_pool; i++) {
        aws_batch_release(&x->pool[i].aws);
        buf_release(&x->pool[i].fragments);
        free(x->pool[i].events);
        free(x->pool[i].sources);
    }
    free(x->pool);
    buf_release(&x->scratch);
    free(x->groups);
}

const struct exporter_type exporter_cloudwatch_logs = {
    .name = "cloudwatch_logs",
    .help = "PutLogEvents to CloudWatch Logs (or a compatible endpoint)",
    .kinds = RECORD_KIND_BIT(RECORD_LOG),
    .fields = cwl_fields,
    .ctx_size = sizeof(struct cwl_exporter),
    .extra_fields = aws_connection_fields,
    .extra_offset = offsetof(struct cwl_exporter, conn),
    .init = cwl_init,
    .start = cwl_start,
    .add = cwl_add,
    .flush = cwl_flush,
    .idle = cwl_idle,
    .stop = cwl_stop,
    .destroy = cwl_destroy,
};
