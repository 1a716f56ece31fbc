/*
 * http: asynchronous HTTP(S) requests on a libuv loop through libcurl's multi interface
 * (the multi_socket pattern: curl's socket callback drives one uv_poll_t per socket, its
 * timer callback one uv_timer_t). The only module that includes curl.
 *
 * Contract
 * - One struct http_client per user (an exporter, the credentials chain); it lives on
 *   one loop and every call is made on that loop's thread. Connections are kept alive
 *   and reused per client.
 * - http_submit() copies the method, URL and headers; the body is borrowed and must stay
 *   valid until the completion callback. It returns 0 and then calls `cb` exactly once
 *   (also on cancellation or client close), or returns an error (-EINVAL, -ENOMEM,
 *   -ESHUTDOWN) and never calls `cb` (libuv's rule).
 * - The response handed to `cb` is borrowed for the duration of the callback. A
 *   transport failure has status 0 and `error` set (-ECONNREFUSED, -ETIMEDOUT,
 *   -ECONNRESET, -EPROTO, ...) with curl's text in error_text. The body is capped at
 *   max_response_bytes (default 1 MiB); a larger body is a transport error (-EMSGSIZE).
 * - TLS peers are verified unless verify_tls is false. Proxies follow the standard
 *   environment variables (HTTPS_PROXY, NO_PROXY, ...) unless `proxy` is set.
 * - http_client_close() fails every call in flight with -ECANCELED, closes all handles
 *   and calls on_closed (on the loop) when the last one is gone.
 * - http_global_init() must be called once per process before any thread starts.
 */
#ifndef OSPREY_HTTP_H
#define OSPREY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "agent/buf.h"

#define HTTP_MAX_HEADERS 32

struct http_client_options {
    const char *ca_file; /* NULL: the system bundle */
    const char *proxy;   /* NULL: environment */
    bool verify_tls;     /* default true (set by http_client_options_default) */
    uint64_t connect_timeout_ms;
    unsigned max_connections;
};

struct http_header {
    const char *name;
    const char *value;
};

struct http_request {
    const char *method; /* "GET", "POST", "PUT" */
    const char *url;
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t n_headers;
    const uint8_t *body;
    size_t body_len;
    uint64_t timeout_ms;       /* whole request; 0 = 30 s */
    size_t max_response_bytes; /* 0 = 1 MiB */
};

struct http_response {
    long status;
    int error;
    char error_text[256];
    const uint8_t *body;
    size_t body_len;
    char content_type[128];
    char amzn_error_type[128]; /* x-amzn-ErrorType, for REST/JSON error classification */
    uint64_t elapsed_ns;
};

struct http_client;
struct http_call;

typedef void (*http_done_cb)(const struct http_response *resp, void *data);

void http_global_init(void);
void http_client_options_default(struct http_client_options *o);

int http_client_create(uv_loop_t *loop, const struct http_client_options *o,
                       struct http_client **ret);
int http_submit(struct http_client *c, const struct http_request *req, http_done_cb cb, void *data);
/* Requests in flight. */
size_t http_client_in_flight(const struct http_client *c);
void http_client_close(struct http_client *c, void (*on_closed)(void *data), void *data);

/* Add a header to a request being built; -E2BIG past HTTP_MAX_HEADERS. */
int http_request_add_header(struct http_request *req, const char *name, const char *value);

#endif
