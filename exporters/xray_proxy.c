#include "exporters/xray_proxy.h"

#include "agent/clock.h"
#include "agent/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XRAY_PROXY_TIMEOUT_MS 5000u /* the SDKs give up on a sampling call after a few s */
#define XRAY_PROXY_MAX_PATH   500u  /* what the sender signs and sends in one piece */
#define XRAY_PROXY_MAX_BODY   (1024u * 1024u)
#define XRAY_PROXY_MAX_CACHED (1024u * 1024u)

/* One request being forwarded; the httpd keeps `req` valid until the answer. */
struct proxy_call {
    struct xray_proxy *p;
    struct httpd_conn *conn;
    const struct httpd_request *req;
    bool rules;
};

static bool is_rules_path(const struct httpd_request *req)
{
    return httpd_str_eq(req->path, "/GetSamplingRules");
}

static void respond_unavailable(struct xray_proxy *p, struct httpd_conn *conn, const char *why)
{
    char body[512];
    int n = snprintf(body, sizeof(body),
                     "{\"Message\":\"osprey sampling proxy: the X-Ray endpoint is unavailable "
                     "(%s)\"}",
                     why);
    if (n < 0 || (size_t)n >= sizeof(body))
        n = (int)strlen(body);
    const struct httpd_response_header h[] = {
        {"Content-Type", "application/json"},
        {"x-amzn-ErrorType", "ServiceUnavailableException"},
    };
    p->stats.unavailable++;
    (void)httpd_respond(conn, 503, h, 2, (const uint8_t *)body, (size_t)n, false);
}

/* Answer from the cache when it holds the answer to this very request. */
static bool respond_cached(struct xray_proxy *p, struct httpd_conn *conn,
                           const struct httpd_request *req)
{
    if (!p->rules_cached || !is_rules_path(req) || req->body_len != p->rules_request.len ||
        (req->body_len && memcmp(req->body, p->rules_request.data, req->body_len) != 0))
        return false;
    const struct httpd_response_header h[] = {
        {"Content-Type", p->rules_content_type[0] ? p->rules_content_type : "application/json"},
        {"X-Osprey-Sampling-Cache", "stale"},
    };
    p->stats.cached++;
    (void)httpd_respond(conn, 200, h, 2, p->rules_answer.data, p->rules_answer.len, false);
    return true;
}

static void remember_rules(struct xray_proxy *p, const struct httpd_request *req,
                           const struct http_response *r)
{
    if (r->body_len > XRAY_PROXY_MAX_CACHED)
        return;
    buf_reset(&p->rules_request);
    buf_reset(&p->rules_answer);
    p->rules_cached = false;
    if ((req->body_len && buf_append(&p->rules_request, req->body, req->body_len) != 0) ||
        (r->body_len && buf_append(&p->rules_answer, r->body, r->body_len) != 0))
        return;
    snprintf(p->rules_content_type, sizeof(p->rules_content_type), "%s", r->content_type);
    p->rules_cached = true;
}

static void on_answer(void *data, const struct http_response *r, const struct aws_error *err)
{
    struct proxy_call *call = data;
    struct xray_proxy *p = call->p;
    (void)err;
    bool down = r->error != 0 || r->status >= 500;
    if (down) {
        char why[300];
        if (r->error)
            snprintf(why, sizeof(why), "%s",
                     r->error_text[0] ? r->error_text : strerror(-r->error));
        else
            snprintf(why, sizeof(why), "HTTP %ld", r->status);
        log_complain(&p->complain, LOG_LEVEL_WARN, p->e->name,
                     "sampling request '%.*s' failed: %s; answering %s", (int)call->req->path.len,
                     call->req->path.p, why,
                     call->rules && p->rules_cached ? "with the last rules" : "503");
        if (!respond_cached(p, call->conn, call->req))
            respond_unavailable(p, call->conn, r->error ? "unreachable" : "server error");
        free(call);
        return;
    }
    log_complain_clear(&p->complain, p->e->name, "sampling requests reach X-Ray again");
    if (call->rules && r->status == 200)
        remember_rules(p, call->req, r);
    struct httpd_response_header h[2];
    size_t n = 0;
    if (r->content_type[0])
        h[n++] = (struct httpd_response_header){"Content-Type", r->content_type};
    if (r->amzn_error_type[0])
        h[n++] = (struct httpd_response_header){"x-amzn-ErrorType", r->amzn_error_type};
    p->stats.forwarded++;
    log_debug(p->e->name, "sampling request '%.*s' forwarded: HTTP %ld, %zu bytes",
              (int)call->req->target.len, call->req->target.p, r->status, r->body_len);
    (void)httpd_respond(call->conn, (int)r->status, h, n, r->body, r->body_len, false);
    free(call);
}

static void on_request(struct httpd_conn *conn, const struct httpd_request *req, void *data)
{
    struct xray_proxy *p = data;
    if (!httpd_str_eq(req->method, "POST")) {
        const struct httpd_response_header h[] = {{"Allow", "POST"}};
        (void)httpd_respond(conn, 405, h, 1, NULL, 0, false);
        return;
    }
    if (req->target.len == 0 || req->target.p[0] != '/' || req->target.len > XRAY_PROXY_MAX_PATH) {
        (void)httpd_respond(conn, 400, NULL, 0, NULL, 0, true);
        return;
    }
    char path[XRAY_PROXY_MAX_PATH + 1];
    memcpy(path, req->target.p, req->target.len);
    path[req->target.len] = '\0';

    struct proxy_call *call = calloc(1, sizeof(*call));
    if (!call) {
        respond_unavailable(p, conn, "out of memory");
        return;
    }
    *call = (struct proxy_call){p, conn, req, is_rules_path(req)};
    const struct httpd_field *ct = httpd_request_field(req, "content-type");
    char content_type[128] = "application/json";
    if (ct && ct->value.len && ct->value.len < sizeof(content_type)) {
        memcpy(content_type, ct->value.p, ct->value.len);
        content_type[ct->value.len] = '\0';
    }
    int r = p->stopping ? -ESHUTDOWN
                        : aws_sender_call(&p->sender, path, NULL, content_type, req->body,
                                          req->body_len, on_answer, call);
    if (r != 0) {
        free(call);
        log_complain(&p->complain, LOG_LEVEL_WARN, p->e->name,
                     "cannot forward sampling request '%s': %s", path,
                     r == -ENOKEY ? "no AWS credentials yet" : strerror(-r));
        if (!respond_cached(p, conn, req))
            respond_unavailable(p, conn, r == -ENOKEY ? "no credentials" : "not forwarded");
    }
}

int xray_proxy_start(struct xray_proxy *p, struct exporter *e, uv_loop_t *loop, const char *address,
                     const struct aws_sender_options *o)
{
    memset(p, 0, sizeof(*p));
    p->e = e;
    buf_init(&p->rules_request, XRAY_PROXY_MAX_BODY);
    buf_init(&p->rules_answer, XRAY_PROXY_MAX_CACHED);
    struct aws_sender_options so = *o;
    so.gzip = false;
    so.request_timeout_ms = XRAY_PROXY_TIMEOUT_MS;
    so.max_in_flight = 4;
    so.http.max_connections = 2;          /* the daemon keeps at most 2 idle connections */
    struct aws_sender_callbacks cb = {0}; /* the proxy makes calls only, never batches */
    struct httpd_options ho;
    httpd_options_default(&ho);
    ho.limits.max_body_bytes = XRAY_PROXY_MAX_BODY;
    int r = httpd_create(loop, &ho, on_request, p, &p->server);
    if (r != 0)
        return r;
    r = httpd_listen(p->server, address);
    if (r != 0) {
        log_error(e->name, "cannot listen for sampling requests on TCP '%s': %s", address,
                  uv_strerror(r));
        goto close_server;
    }
    r = aws_sender_init(&p->sender, e, loop, &so, &cb, p);
    if (r != 0)
        goto close_server;
    p->sender_open = true;
    exporter_handle_opened(e); /* the server */
    exporter_handle_opened(e); /* the sender */
    log_info(e->name, "sampling proxy on TCP %s -> %s", address, so.endpoint.url);
    return 0;

close_server:
    /* Nothing is connected yet: the server closes on its own and needs no accounting. */
    httpd_close(p->server, NULL, NULL);
    p->server = NULL;
    return r;
}

static void on_part_closed(void *data)
{
    struct xray_proxy *p = data;
    exporter_handle_closed(p->e);
}

void xray_proxy_stop(struct xray_proxy *p)
{
    if (!p->sender_open || p->stopping)
        return;
    p->stopping = true;
    const struct httpd_stats *hs = httpd_get_stats(p->server);
    log_info(p->e->name,
             "sampling proxy: %llu requests (%llu forwarded, %llu from the rules cache, %llu "
             "answered 503), %llu refused as malformed",
             (unsigned long long)hs->requests, (unsigned long long)p->stats.forwarded,
             (unsigned long long)p->stats.cached, (unsigned long long)p->stats.unavailable,
             (unsigned long long)hs->bad_requests);
    /* Stop accepting first; requests in flight are answered when the sender cancels
     * them (503), then their connections close. */
    httpd_close(p->server, on_part_closed, p);
    p->server = NULL;
    aws_sender_close(&p->sender, on_part_closed, p);
}

void xray_proxy_release(struct xray_proxy *p)
{
    if (!p)
        return;
    buf_release(&p->rules_request);
    buf_release(&p->rules_answer);
    p->rules_cached = false;
}
