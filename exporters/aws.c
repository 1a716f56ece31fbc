/*
 * DESIGN
 * A batch goes through: seal (exporter) -> compress once (here) -> [wait for
 * credentials] -> sign -> send -> classify -> done | retry timer -> sign again -> send.
 * The signature covers X-Amz-Date, so every attempt is signed anew; the compressed
 * bytes are reused. Classification looks at the error code before the status because
 * AWS answers some throttling with HTTP 400 (CloudWatch's query protocol: Throttling).
 */
#include "exporters/aws.h"

#include "agent/clock.h"
#include "agent/log.h"
#include "agent/pipeline.h"
#include "exporters/gzip.h"
#include "exporters/sigv4.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AWS_DEFAULT_RETRY_DURATION_NS (600 * NS_PER_SEC)
#define AWS_DEFAULT_BACKOFF_BASE_NS   (200 * NS_PER_MS)
#define AWS_DEFAULT_BACKOFF_CAP_NS    (30 * NS_PER_SEC)
#define AWS_MAX_RESENDS               3
#define AWS_MAX_ERROR_BODY            (64u * 1024u)

/* ---- endpoints --------------------------------------------------------------------- */

int aws_endpoint_resolve(const char *override, const char *prefix, const char *region,
                         struct aws_endpoint *ret)
{
    memset(ret, 0, sizeof(*ret));
    int n;
    if (override && override[0]) {
        if (strstr(override, "://"))
            n = snprintf(ret->url, sizeof(ret->url), "%s", override);
        else
            n = snprintf(ret->url, sizeof(ret->url), "https://%s", override);
    } else {
        if (!region || !region[0])
            return -EINVAL;
        const char *suffix = strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
        n = snprintf(ret->url, sizeof(ret->url), "https://%s.%s.%s", prefix, region, suffix);
    }
    if (n < 0 || (size_t)n >= sizeof(ret->url))
        return -ENAMETOOLONG;
    size_t len = strlen(ret->url);
    while (len > 0 && ret->url[len - 1] == '/')
        ret->url[--len] = '\0';
    const char *host = strstr(ret->url, "://") + 3;
    size_t hlen = strcspn(host, "/?#");
    if (hlen == 0 || hlen >= sizeof(ret->host))
        return -EINVAL;
    if (host[hlen] != '\0')
        return -EINVAL; /* a path in the endpoint is not supported */
    memcpy(ret->host, host, hlen);
    ret->host[hlen] = '\0';
    return 0;
}

/* ---- errors ------------------------------------------------------------------------ */

static void copy_trimmed(char *dst, size_t cap, const char *src, size_t len)
{
    while (len && (*src == ' ' || *src == '\n' || *src == '\r' || *src == '\t')) {
        src++;
        len--;
    }
    while (len && (src[len - 1] == ' ' || src[len - 1] == '\n' || src[len - 1] == '\r'))
        len--;
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static void xml_element(const char *body, size_t len, const char *name, char *dst, size_t cap)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", name);
    snprintf(close, sizeof(close), "</%s>", name);
    const char *start = memmem(body, len, open, strlen(open));
    if (!start)
        return;
    start += strlen(open);
    const char *end = memmem(start, len - (size_t)(start - body), close, strlen(close));
    if (end)
        copy_trimmed(dst, cap, start, (size_t)(end - start));
}

void aws_error_parse(const struct http_response *resp, enum aws_protocol proto,
                     struct aws_error *ret)
{
    memset(ret, 0, sizeof(*ret));
    size_t len = resp->body_len < AWS_MAX_ERROR_BODY ? resp->body_len : AWS_MAX_ERROR_BODY;
    const char *body = (const char *)resp->body;
    if (proto == AWS_PROTOCOL_QUERY) {
        xml_element(body, len, "Code", ret->code, sizeof(ret->code));
        xml_element(body, len, "Message", ret->message, sizeof(ret->message));
        return;
    }
    if (resp->amzn_error_type[0]) {
        /* "ThrottlingException:http://internal.amazon.com/..." */
        size_t n = strcspn(resp->amzn_error_type, ":");
        copy_trimmed(ret->code, sizeof(ret->code), resp->amzn_error_type, n);
    }
    json_t *j = len ? json_loadb(body, len, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        if (j)
            json_decref(j);
        return;
    }
    if (!ret->code[0]) {
        const char *type = json_string_value(json_object_get(j, "__type"));
        if (!type)
            type = json_string_value(json_object_get(j, "code"));
        if (!type)
            type = json_string_value(json_object_get(j, "Code"));
        if (type) {
            /* "com.amazonaws.logs#ResourceNotFoundException" */
            const char *hash = strrchr(type, '#');
            const char *name = hash ? hash + 1 : type;
            copy_trimmed(ret->code, sizeof(ret->code), name, strcspn(name, ":"));
        }
    }
    const char *msg = json_string_value(json_object_get(j, "message"));
    if (!msg)
        msg = json_string_value(json_object_get(j, "Message"));
    if (msg)
        copy_trimmed(ret->message, sizeof(ret->message), msg, strlen(msg));
    json_decref(j);
}

static bool in_list(const char *code, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(code, *list) == 0)
            return true;
    return false;
}

bool aws_error_is_throttling(const char *code)
{
    /* The SDKs' standard retry mode's throttling codes. */
    static const char *const codes[] = {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        NULL,
    };
    return in_list(code, codes);
}

bool aws_error_is_transient(const char *code)
{
    static const char *const codes[] = {
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalFailure",
        "InternalServiceError",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerError",
        "InternalServerErrorException",
        NULL,
    };
    return in_list(code, codes);
}

bool aws_error_is_expired_credentials(const char *code)
{
    static const char *const codes[] = {
        "ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidAccessKeyId", NULL,
    };
    return in_list(code, codes);
}

/* ---- batches ----------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    struct aws_sender *s = h->data;
    s->open_handles--;
    if (s->closing && s->open_handles == 0 && s->on_closed)
        s->on_closed(s->on_closed_data);
}

void aws_batch_init(struct aws_sender *s, struct aws_batch *b, size_t max_body)
{
    memset(b, 0, sizeof(*b));
    buf_init(&b->body, max_body);
    buf_init(&b->wire, max_body + 1024);
    b->sender = s;
    uv_timer_init(s->loop, &b->retry_timer);
    b->retry_timer.data = s;
    s->open_handles++;
    b->next_registered = s->batches;
    s->batches = b;
    delivery_runs_init(&b->runs);
}

void aws_batch_reset(struct aws_batch *b)
{
    buf_reset(&b->body);
    buf_reset(&b->wire);
    b->compressed = false;
    b->path[0] = '\0';
    b->target = NULL;
    b->content_type = NULL;
    delivery_runs_init(&b->runs);
    b->records = 0;
    b->attempts = 0;
    b->resends = 0;
    b->first_sent_ns = 0;
    b->in_use = false;
}

void aws_batch_release(struct aws_batch *b)
{
    buf_release(&b->body);
    buf_release(&b->wire);
}

/* ---- sending ----------------------------------------------------------------------- */

static void attempt(struct aws_batch *b);
static void pump(struct aws_sender *s);

static void finish(struct aws_batch *b, enum delivery_outcome outcome)
{
    struct aws_sender *s = b->sender;
    struct exporter *e = s->exporter;
    s->in_flight--;
    switch (outcome) {
    case DELIVERY_ACCEPTED:
        selfstats_add(&e->stats.batches_ok, 1);
        break;
    case DELIVERY_REJECTED:
        selfstats_add(&e->stats.batches_failed, 1);
        break;
    case DELIVERY_GAVE_UP:
        selfstats_add(&e->stats.batches_failed, 1);
        break;
    }
    s->cb.done(s->user, b, outcome);
    pump(s); /* a slot is free */
}

/* A queued batch that will never be sent (the sender is closing). */
static void give_up_queued(struct aws_batch *b)
{
    struct aws_sender *s = b->sender;
    selfstats_drop(&s->exporter->stats, DROP_SHUTDOWN, b->records);
    selfstats_add(&s->exporter->stats.batches_failed, 1);
    s->cb.done(s->user, b, DELIVERY_GAVE_UP);
}

static void on_retry_timer(uv_timer_t *h)
{
    struct aws_batch *b = (struct aws_batch *)((char *)h - offsetof(struct aws_batch, retry_timer));
    attempt(b);
}

static void schedule_retry(struct aws_batch *b, const char *why)
{
    struct aws_sender *s = b->sender;
    struct exporter *e = s->exporter;
    if (s->closing) {
        selfstats_drop(&e->stats, DROP_SHUTDOWN, b->records);
        finish(b, DELIVERY_GAVE_UP);
        return;
    }
    uint64_t waited = b->first_sent_ns ? clock_monotonic_ns() - b->first_sent_ns : 0;
    if ((s->opts.max_attempts && b->attempts >= s->opts.max_attempts) ||
        waited >= s->opts.retry_duration_ns) {
        log_complain(&s->complain, LOG_LEVEL_ERROR, e->name,
                     "giving up on a batch of %u records after %u attempts: %s", b->records,
                     b->attempts, why);
        selfstats_drop(&e->stats, DROP_RETRIES_EXHAUSTED, b->records);
        finish(b, DELIVERY_GAVE_UP);
        return;
    }
    uint64_t delay =
        retry_backoff_ns(&s->rng, b->attempts - 1, s->opts.backoff_base_ns, s->opts.backoff_cap_ns);
    selfstats_add(&e->stats.retries, 1);
    log_complain(&s->complain, LOG_LEVEL_WARN, e->name,
                 "batch of %u records failed (%s), retrying in %llu ms (attempt %u)", b->records,
                 why, (unsigned long long)(delay / NS_PER_MS), b->attempts + 1);
    uv_timer_start(&b->retry_timer, on_retry_timer, delay / NS_PER_MS, 0);
}

static enum aws_verdict generic_verdict(const struct http_response *r, const struct aws_error *err)
{
    if (r->error)
        return AWS_VERDICT_RETRY;
    if (r->status >= 200 && r->status < 300)
        return AWS_VERDICT_OK;
    if (err->code[0] && (aws_error_is_throttling(err->code) || aws_error_is_transient(err->code) ||
                         aws_error_is_expired_credentials(err->code)))
        return AWS_VERDICT_RETRY;
    if (r->status >= 500 || r->status == 429)
        return AWS_VERDICT_RETRY;
    return AWS_VERDICT_REJECT;
}

/* Does a 2xx answer have the format of `protocol`'s answers (XML for query, JSON
 * otherwise)? */
static bool from_the_service(const struct aws_sender *s, const struct http_response *r)
{
    return strstr(r->content_type, s->opts.protocol == AWS_PROTOCOL_QUERY ? "xml" : "json");
}

static void on_response(const struct http_response *r, void *data)
{
    struct aws_batch *b = data;
    struct aws_sender *s = b->sender;
    struct exporter *e = s->exporter;
    struct aws_error err;
    memset(&err, 0, sizeof(err));
    if (!r->error && (r->status < 200 || r->status >= 300))
        aws_error_parse(r, s->opts.protocol, &err);

    if (r->error == -ECANCELED) {
        selfstats_drop(&e->stats, DROP_SHUTDOWN, b->records);
        finish(b, DELIVERY_GAVE_UP);
        return;
    }
    enum aws_verdict v = AWS_VERDICT_DEFAULT;
    bool success = !r->error && r->status >= 200 && r->status < 300;
    if (success && !from_the_service(s, r)) {
        /* A 2xx in another format (a proxy, a captive portal): nothing proves the
         * records were stored, so they are sent again (at-least-once). */
        selfstats_add(&e->stats.errors, 1);
        log_complain(&s->complain, LOG_LEVEL_WARN, e->name,
                     "HTTP %ld answer with content type '%s' is not the service's, sending again",
                     r->status, r->content_type);
        v = AWS_VERDICT_RETRY;
    } else if (s->cb.classify) {
        v = s->cb.classify(s->user, b, r, &err);
    }
    if (v == AWS_VERDICT_DEFAULT)
        v = generic_verdict(r, &err);

    char why[700];
    if (r->error)
        snprintf(why, sizeof(why), "%s", r->error_text);
    else
        snprintf(why, sizeof(why), "HTTP %ld %s%s%s", r->status, err.code,
                 err.message[0] ? ": " : "", err.message);
    if (v == AWS_VERDICT_RETRY && !r->error && aws_error_is_expired_credentials(err.code))
        creds_invalidate(s->opts.creds);
    if (v == AWS_VERDICT_HOLD) {
        b->held = true;
        return;
    }
    aws_batch_continue(b, v, why);
}

void aws_batch_continue(struct aws_batch *b, enum aws_verdict v, const char *why)
{
    struct aws_sender *s = b->sender;
    struct exporter *e = s->exporter;
    b->held = false;
    switch (v) {
    case AWS_VERDICT_OK:
    case AWS_VERDICT_DEFAULT:
        log_complain_clear(&s->complain, e->name, "delivering again");
        finish(b, DELIVERY_ACCEPTED);
        return;
    case AWS_VERDICT_REJECT:
        log_error(e->name, "batch of %u records rejected: %s", b->records, why);
        selfstats_drop(&e->stats, DROP_REJECTED, b->records);
        finish(b, DELIVERY_REJECTED);
        return;
    case AWS_VERDICT_RESEND:
        if (b->resends < AWS_MAX_RESENDS) {
            b->resends++;
            attempt(b);
            return;
        }
        /* A fix that keeps not working is an ordinary failure. */
        schedule_retry(b, why);
        return;
    case AWS_VERDICT_RETRY:
    case AWS_VERDICT_HOLD:
        schedule_retry(b, why);
        return;
    }
}

static void on_creds_ready(void *data, int status)
{
    struct aws_batch *b = data;
    if (!b->waiting_creds)
        return; /* given up by aws_sender_close meanwhile */
    b->waiting_creds = false;
    if (status != 0) {
        char why[128];
        snprintf(why, sizeof(why), "no AWS credentials: %s", strerror(-status));
        b->attempts++;
        schedule_retry(b, why);
        return;
    }
    attempt(b);
}

/* Sign and submit; on a local failure the batch goes to the retry path. */
static int sign_and_submit(struct aws_sender *s, const char *path, const char *target,
                           const char *content_type, bool gzip, const uint8_t *body, size_t len,
                           const struct aws_credentials *c, http_done_cb cb, void *data)
{
    char query_path[600];
    snprintf(query_path, sizeof(query_path), "%s", path && path[0] ? path : "/");
    char *query = strchr(query_path, '?');
    if (query)
        *query++ = '\0';

    struct sigv4_header headers[8];
    size_t n = 0;
    headers[n++] = (struct sigv4_header){"Host", s->opts.endpoint.host};
    if (content_type)
        headers[n++] = (struct sigv4_header){"Content-Type", content_type};
    if (target)
        headers[n++] = (struct sigv4_header){"X-Amz-Target", target};
    if (gzip)
        headers[n++] = (struct sigv4_header){"Content-Encoding", "gzip"};
    if (s->opts.extra_header.name)
        headers[n++] = (struct sigv4_header){s->opts.extra_header.name, s->opts.extra_header.value};
    struct sigv4_request sreq = {
        .method = "POST",
        .path = query_path,
        .query = query,
        .headers = headers,
        .header_count = n,
        .body = body,
        .body_len = len,
    };
    struct sigv4_credentials sc = {c->access_key_id, c->secret_access_key, c->session_token};
    struct sigv4_result sig;
    memset(&sig, 0, sizeof(sig));
    int r = sigv4_sign(&sreq, &sc, s->opts.region, s->opts.service,
                       (int64_t)(clock_realtime_ns() / NS_PER_SEC), SIGV4_FLAGS_DEFAULT, &sig);
    if (r != 0)
        return r;

    char url[1200];
    snprintf(url, sizeof(url), "%s%s", s->opts.endpoint.url, path && path[0] ? path : "/");
    struct http_request req = {
        .method = "POST",
        .url = url,
        .body = body,
        .body_len = len,
        .timeout_ms = s->opts.request_timeout_ms,
        .max_response_bytes = 1u << 20,
    };
    for (size_t i = 0; i < n; i++)
        http_request_add_header(&req, headers[i].name, headers[i].value);
    http_request_add_header(&req, "X-Amz-Date", sig.amz_date);
    if (sig.security_token)
        http_request_add_header(&req, "X-Amz-Security-Token", sig.security_token);
    http_request_add_header(&req, "Authorization", sig.authorization);
    http_request_add_header(&req, "User-Agent", "osprey/" OSPREY_VERSION);
    r = http_submit(s->http, &req, cb, data);
    sigv4_result_release(&sig);
    return r;
}

static void attempt(struct aws_batch *b)
{
    struct aws_sender *s = b->sender;
    if (s->closing) {
        selfstats_drop(&s->exporter->stats, DROP_SHUTDOWN, b->records);
        finish(b, DELIVERY_GAVE_UP);
        return;
    }
    const struct aws_credentials *c = s->opts.creds ? creds_current(s->opts.creds) : NULL;
    if (!c) {
        int r = s->opts.creds ? creds_wait(s->opts.creds, on_creds_ready, b) : -ENOKEY;
        if (r == 0)
            b->waiting_creds = true;
        if (r != 0) {
            b->attempts++;
            schedule_retry(b, "no AWS credentials provider");
        }
        return;
    }
    b->attempts++;
    const struct buf *payload = b->compressed ? &b->wire : &b->body;
    int r = sign_and_submit(s, b->path, b->target, b->content_type, b->compressed, payload->data,
                            payload->len, c, on_response, b);
    if (r != 0) {
        char why[128];
        snprintf(why, sizeof(why), "cannot send: %s", strerror(-r));
        schedule_retry(b, why);
    }
}

static void send_batch(struct aws_sender *s, struct aws_batch *b)
{
    b->in_use = true;
    b->attempts = 0;
    b->compressed = false;
    if (s->opts.gzip && b->body.len >= s->opts.gzip_min_bytes) {
        buf_reset(&b->wire);
        if (gzip_compress(b->body.data, b->body.len, 6, &b->wire) == 0)
            b->compressed = true;
    }
    s->in_flight++;
    b->first_sent_ns = clock_monotonic_ns();
    selfstats_add(&s->exporter->stats.bytes_out, b->compressed ? b->wire.len : b->body.len);
    attempt(b);
}

static void pump(struct aws_sender *s)
{
    while (s->queue_head && !s->closing && s->in_flight < s->opts.max_in_flight) {
        struct aws_batch *b = s->queue_head;
        s->queue_head = b->next_queued;
        if (!s->queue_head)
            s->queue_tail = NULL;
        b->next_queued = NULL;
        send_batch(s, b);
    }
}

void aws_sender_enqueue(struct aws_sender *s, struct aws_batch *b)
{
    b->in_use = true;
    if (s->closing) {
        give_up_queued(b);
        return;
    }
    b->next_queued = NULL;
    if (s->queue_tail)
        s->queue_tail->next_queued = b;
    else
        s->queue_head = b;
    s->queue_tail = b;
    pump(s);
}

/* ---- one-off calls ------------------------------------------------------------------ */

struct aws_call {
    struct aws_sender *sender;
    aws_call_cb cb;
    void *data;
    uint8_t *body;
};

static void on_call_response(const struct http_response *r, void *data)
{
    struct aws_call *call = data;
    struct aws_error err;
    memset(&err, 0, sizeof(err));
    if (!r->error && (r->status < 200 || r->status >= 300))
        aws_error_parse(r, call->sender->opts.protocol, &err);
    call->cb(call->data, r, &err);
    free(call->body);
    free(call);
}

int aws_sender_call(struct aws_sender *s, const char *path, const char *target,
                    const char *content_type, const uint8_t *body, size_t len, aws_call_cb cb,
                    void *data)
{
    if (s->closing)
        return -ESHUTDOWN;
    const struct aws_credentials *c = s->opts.creds ? creds_current(s->opts.creds) : NULL;
    if (!c)
        return -ENOKEY;
    struct aws_call *call = calloc(1, sizeof(*call));
    if (!call)
        return -ENOMEM;
    call->sender = s;
    call->cb = cb;
    call->data = data;
    call->body = malloc(len ? len : 1);
    if (!call->body) {
        free(call);
        return -ENOMEM;
    }
    if (len)
        memcpy(call->body, body, len);
    int r = sign_and_submit(s, path, target, content_type, false, call->body, len, c,
                            on_call_response, call);
    if (r != 0) {
        free(call->body);
        free(call);
    }
    return r;
}

/* ---- lifecycle --------------------------------------------------------------------- */

int aws_sender_init(struct aws_sender *s, struct exporter *e, uv_loop_t *loop,
                    const struct aws_sender_options *o, const struct aws_sender_callbacks *cb,
                    void *user)
{
    memset(s, 0, sizeof(*s));
    s->exporter = e;
    s->loop = loop;
    s->opts = *o;
    s->cb = *cb;
    s->user = user;
    if (!s->opts.max_in_flight)
        s->opts.max_in_flight = 4;
    if (!s->opts.retry_duration_ns)
        s->opts.retry_duration_ns = AWS_DEFAULT_RETRY_DURATION_NS;
    if (!s->opts.backoff_base_ns)
        s->opts.backoff_base_ns = AWS_DEFAULT_BACKOFF_BASE_NS;
    if (!s->opts.backoff_cap_ns)
        s->opts.backoff_cap_ns = AWS_DEFAULT_BACKOFF_CAP_NS;
    retry_rng_seed(&s->rng, clock_monotonic_ns() ^ (uint64_t)(uintptr_t)s);
    int r = http_client_create(loop, &o->http, &s->http);
    if (r != 0)
        return r;
    s->open_handles = 1; /* the HTTP client */
    return 0;
}

static void on_http_closed(void *data)
{
    struct aws_sender *s = data;
    s->open_handles--;
    if (s->open_handles == 0 && s->on_closed)
        s->on_closed(s->on_closed_data);
}

void aws_sender_close(struct aws_sender *s, void (*on_closed)(void *data), void *data)
{
    s->closing = true;
    s->on_closed = on_closed;
    s->on_closed_data = data;
    while (s->queue_head) {
        struct aws_batch *b = s->queue_head;
        s->queue_head = b->next_queued;
        b->next_queued = NULL;
        give_up_queued(b);
    }
    s->queue_tail = NULL;
    for (struct aws_batch *b = s->batches; b; b = b->next_registered) {
        if (b->in_use && b->waiting_creds) {
            b->waiting_creds = false;
            (void)creds_wait_cancel(s->opts.creds, on_creds_ready, b);
            selfstats_drop(&s->exporter->stats, DROP_SHUTDOWN, b->records);
            finish(b, DELIVERY_GAVE_UP);
        } else if (b->in_use && uv_is_active((uv_handle_t *)&b->retry_timer)) {
            uv_timer_stop(&b->retry_timer);
            selfstats_drop(&s->exporter->stats, DROP_SHUTDOWN, b->records);
            finish(b, DELIVERY_GAVE_UP);
        }
        uv_close((uv_handle_t *)&b->retry_timer, on_handle_closed);
    }
    /* Cancels what is in flight: those batches finish with DELIVERY_GAVE_UP. */
    http_client_close(s->http, on_http_closed, s);
}

/* ---- connection keys ----------------------------------------------------------------- */

const struct cfg_field aws_connection_fields[] = {
    {"endpoint", CFG_STRING, offsetof(struct aws_connection, endpoint), NULL, 0, 0, NULL, 0,
     "endpoint URL (default: the service's regional endpoint)"},
    {"region", CFG_STRING, offsetof(struct aws_connection, region), NULL, 0, 0, NULL, 0,
     "region (default agent.region)"},
    {"max_attempts", CFG_INT, offsetof(struct aws_connection, max_attempts), "0", 0, 1000, NULL, 0,
     "attempts per batch before giving up (0 = no limit: retry_duration decides)"},
    {"retry_duration", CFG_SECONDS, offsetof(struct aws_connection, retry_duration_ns), "600", 1,
     86400, NULL, 0, "seconds a batch is retried before it is given up"},
    {"ca_file", CFG_STRING, offsetof(struct aws_connection, ca_file), NULL, 0, 0, NULL, 0,
     "CA bundle for TLS (default: the system's)"},
    {"proxy", CFG_STRING, offsetof(struct aws_connection, proxy), NULL, 0, 0, NULL, 0,
     "HTTP(S) proxy URL (default: the HTTPS_PROXY / NO_PROXY environment variables)"},
    {"verify_tls", CFG_BOOL, offsetof(struct aws_connection, verify_tls), "true", 0, 0, NULL, 0,
     "verify the endpoint's certificate"},
    CFG_END,
};

const char *aws_connection_region(const struct exporter *e, const struct aws_connection *c)
{
    const char *region = c->region ? c->region : e->env->region;
    return region && region[0] ? region : NULL;
}

int aws_connection_check(struct exporter *e, const struct aws_connection *c, const char *prefix)
{
    const char *region = aws_connection_region(e, c);
    if (!region && !e->env->region_from_instance) {
        exporter_config_error(e, NULL, "no region: set agent.region or this sink's 'region'");
        return -EINVAL;
    }
    struct aws_endpoint ep;
    /* Without a region yet, only the endpoint's syntax can be checked. */
    if (aws_endpoint_resolve(c->endpoint, prefix, region ? region : "us-east-1", &ep) != 0) {
        exporter_config_error(e, "endpoint",
                              "invalid endpoint '%s' (expected scheme://host[:port])",
                              c->endpoint ? c->endpoint : "");
        return -EINVAL;
    }
    return 0;
}

int aws_sender_options_init(struct aws_sender_options *o, struct exporter *e,
                            const struct aws_connection *c, const char *service, const char *prefix)
{
    memset(o, 0, sizeof(*o));
    o->service = service;
    o->region = aws_connection_region(e, c);
    if (!o->region) {
        log_error(e->name, "no region: none is configured (agent.region, this sink's 'region', "
                           "AWS_REGION) and EC2 instance metadata gave none");
        return -EINVAL;
    }
    o->max_attempts = (unsigned)c->max_attempts;
    o->retry_duration_ns = c->retry_duration_ns;
    http_client_options_default(&o->http);
    o->http.ca_file = c->ca_file;
    o->http.proxy = c->proxy;
    o->http.verify_tls = c->verify_tls;
    int r = aws_endpoint_resolve(c->endpoint, prefix, o->region, &o->endpoint);
    if (r != 0)
        return r;
    o->creds = pipeline_credentials(e->pipeline);
    if (!o->creds) {
        log_error(e->name, "cannot set up AWS credentials");
        return -ENOMEM;
    }
    return 0;
}
