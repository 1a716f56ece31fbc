/*
 * aws: what the CloudWatch, CloudWatch Logs and X-Ray exporters share — endpoint
 * resolution, error parsing and classification, and the batch sender (compress once,
 * sign on every attempt, send, retry with capped full-jitter backoff, report).
 *
 * Contract
 * - Everything runs on the export loop. A struct aws_sender belongs to one exporter
 *   instance and owns that instance's HTTP client.
 * - Batches are owned by the exporter (a fixed pool, so nothing is allocated per batch
 *   once warm). aws_sender_enqueue() takes a sealed batch and sends it, in FIFO order,
 *   when fewer than max_in_flight batches are in flight; the sender compresses it once
 *   (gzip when enabled and the payload is at least gzip_min_bytes), signs and sends it,
 *   classifies the answer (the exporter's classify callback first, then the generic
 *   rules), retries what can be retried, and finally calls `done` exactly once with the
 *   batch's outcome. Between send and done the batch must not be touched.
 * - Retries: throttling error codes (by code, whatever the HTTP status), 5xx, and
 *   transport errors; never validation errors. Expired credentials invalidate the
 *   provider and retry. A batch is given up once retry_duration has passed since its
 *   first attempt (or after max_attempts, when set): an outage shorter than that loses
 *   nothing.
 * - Every attempt, retry and outcome is counted in the exporter's selfstats.
 */
#ifndef OSPREY_AWS_H
#define OSPREY_AWS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "agent/buf.h"
#include "agent/log.h"
#include "exporters/creds.h"
#include "exporters/exporter.h"
#include "exporters/http.h"
#include "exporters/retry.h"

enum aws_protocol {
    AWS_PROTOCOL_QUERY,     /* form-encoded request, XML answer (CloudWatch, STS, SNS) */
    AWS_PROTOCOL_JSON,      /* AWS JSON 1.0/1.1 with X-Amz-Target (Logs, CloudWatch JSON) */
    AWS_PROTOCOL_REST_JSON, /* X-Ray */
};

struct aws_endpoint {
    char url[512];  /* scheme://host[:port], no trailing slash */
    char host[300]; /* Host header value */
};

/* override: "https://host", "http://127.0.0.1:4566", or a bare host name; NULL = the
 * service's regional endpoint https://<prefix>.<region>.amazonaws.com. */
int aws_endpoint_resolve(const char *override, const char *prefix, const char *region,
                         struct aws_endpoint *ret);

struct aws_error {
    char code[128];
    char message[512];
};

/* The error code and message of an answer in `proto`'s format; empty when none. */
void aws_error_parse(const struct http_response *resp, enum aws_protocol proto,
                     struct aws_error *ret);
bool aws_error_is_throttling(const char *code);
bool aws_error_is_transient(const char *code);
bool aws_error_is_expired_credentials(const char *code);

enum aws_verdict {
    AWS_VERDICT_DEFAULT = 0, /* classify: "apply the generic rules" */
    AWS_VERDICT_OK,
    AWS_VERDICT_RETRY,
    AWS_VERDICT_REJECT,
    AWS_VERDICT_RESEND, /* the exporter fixed something (created a log stream): send again
                           now, without counting a failed attempt against the budget */
    AWS_VERDICT_HOLD,   /* the exporter is fixing something asynchronously and will call
                           aws_batch_continue() with one of the verdicts above */
};

struct aws_batch {
    struct buf body; /* uncompressed payload, written by the exporter */
    struct buf wire; /* what is sent: gzip of body, or unused */
    bool compressed;
    char path[512];     /* request path and query ("/", "/TraceSegments") */
    const char *target; /* X-Amz-Target, or NULL */
    const char *content_type;
    struct delivery_runs runs;
    uint32_t records;
    unsigned attempts;
    unsigned resends;
    bool in_use;
    bool held;
    bool waiting_creds; /* in creds_wait(); the sender may give it up before the answer */
    uint64_t first_sent_ns;
    struct aws_sender *sender;
    uv_timer_t retry_timer;
    struct aws_batch *next_registered; /* the sender's list of its batches */
    struct aws_batch *next_queued;     /* sealed, waiting for an in-flight slot */
};

struct aws_sender_options {
    const char *service; /* signing name: "logs", "monitoring", "xray" */
    const char *region;
    struct aws_endpoint endpoint;
    enum aws_protocol protocol;
    bool gzip;
    size_t gzip_min_bytes;
    unsigned max_attempts;      /* 0 = no limit: retry_duration decides */
    uint64_t retry_duration_ns; /* give up this long after the first attempt; default 10 min */
    uint64_t backoff_base_ns;   /* default 200 ms */
    uint64_t backoff_cap_ns;    /* default 30 s */
    uint64_t request_timeout_ms;
    unsigned max_in_flight; /* default 4 */
    struct http_client_options http;
    struct creds_provider *creds; /* borrowed; outlives the sender */
    /* One more header, signed and sent with every request of this sender when name is
     * set (CloudWatch in AWS JSON 1.0: "x-amzn-query-mode: true"); borrowed strings. */
    struct http_header extra_header;
};

struct aws_sender_callbacks {
    /* Exporter-specific reading of an answer; AWS_VERDICT_DEFAULT to use the generic
     * rules. To fix something first (create a log stream), start side requests with
     * aws_sender_call, return AWS_VERDICT_HOLD, and finish with aws_batch_continue(). */
    enum aws_verdict (*classify)(void *user, struct aws_batch *b, const struct http_response *r,
                                 const struct aws_error *err);
    void (*done)(void *user, struct aws_batch *b, enum delivery_outcome outcome);
};

struct aws_sender {
    struct exporter *exporter;
    uv_loop_t *loop;
    struct aws_sender_options opts;
    struct aws_sender_callbacks cb;
    void *user;
    struct http_client *http;
    struct retry_rng rng;
    struct aws_batch *batches; /* every batch inited for this sender */
    unsigned in_flight;        /* batches between send and done */
    struct aws_batch *queue_head, *queue_tail;
    unsigned open_handles;
    bool closing;
    void (*on_closed)(void *data);
    void *on_closed_data;
    struct log_complain complain;
};

/* The connection keys every AWS exporter accepts (endpoint, region, retries, TLS, proxy),
 * bound into an exporter's context through exporter_type.extra_fields. */
struct aws_connection {
    char *endpoint;
    char *region;
    int64_t max_attempts;
    uint64_t retry_duration_ns;
    char *ca_file;
    char *proxy;
    bool verify_tls;
};

extern const struct cfg_field aws_connection_fields[];

/* The sink's region, else agent.region; NULL when neither is set. */
const char *aws_connection_region(const struct exporter *e, const struct aws_connection *c);
/* At init: a region and a valid endpoint, or a configuration error (FILE:LINE:COL). */
int aws_connection_check(struct exporter *e, const struct aws_connection *c, const char *prefix);
/* At start: sender options for `service` from the connection keys, with the agent's shared
 * credentials provider; the caller sets protocol, gzip and timeouts. */
int aws_sender_options_init(struct aws_sender_options *o, struct exporter *e,
                            const struct aws_connection *c, const char *service,
                            const char *prefix);

int aws_sender_init(struct aws_sender *s, struct exporter *e, uv_loop_t *loop,
                    const struct aws_sender_options *o, const struct aws_sender_callbacks *cb,
                    void *user);
/* Prepare a batch of the exporter's pool for this sender (its retry timer); the sender
 * keeps a list of them so that closing can give up and close every one. */
void aws_batch_init(struct aws_sender *s, struct aws_batch *b, size_t max_body);
void aws_batch_reset(struct aws_batch *b);
void aws_batch_release(struct aws_batch *b);

/* Queue a sealed batch; `done` is called exactly once for it, also when the sender closes
 * first (DELIVERY_GAVE_UP, counted as DROP_SHUTDOWN). */
void aws_sender_enqueue(struct aws_sender *s, struct aws_batch *b);
/* After AWS_VERDICT_HOLD: go on with `v` (OK, RETRY, REJECT or RESEND); `why` is logged
 * for RETRY and REJECT. */
void aws_batch_continue(struct aws_batch *b, enum aws_verdict v, const char *why);

/* A one-off signed request outside the batch machinery (CreateLogGroup, ...). The
 * callback gets the answer and its parsed error; no retries. */
typedef void (*aws_call_cb)(void *data, const struct http_response *r, const struct aws_error *err);
int aws_sender_call(struct aws_sender *s, const char *path, const char *target,
                    const char *content_type, const uint8_t *body, size_t len, aws_call_cb cb,
                    void *data);

/* Stop: batches waiting for a retry are given up (done with DELIVERY_GAVE_UP), calls in
 * flight are cancelled, handles closed; on_closed runs when all is gone. */
void aws_sender_close(struct aws_sender *s, void (*on_closed)(void *data), void *data);

#endif
