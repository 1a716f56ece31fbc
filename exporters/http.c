/*
 * DESIGN
 * curl decides which sockets to watch and when it needs a timeout; libuv watches.
 * socket_cb starts, changes or stops one uv_poll_t per socket (struct http_socket, found
 * again through curl_multi_assign); timer_cb arms the one uv_timer_t. Both only record
 * what curl asked for: curl_multi_socket_action is called from the poll and timer
 * callbacks, never from inside a curl callback, and finished transfers are collected
 * with curl_multi_info_read right after. A call's completion callback may submit new
 * requests (retries, chained credential requests).
 */
#include "exporters/http.h"

#include "agent/clock.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_DEFAULT_TIMEOUT_MS   30000u
#define HTTP_DEFAULT_MAX_RESPONSE (1u << 20)

struct http_socket {
    uv_poll_t poll;
    curl_socket_t fd;
    struct http_client *client;
    struct http_socket *next;
};

struct http_call {
    struct http_client *client;
    CURL *easy;
    struct curl_slist *headers;
    struct buf body;
    bool too_large;
    char content_type[128];
    char amzn_error_type[128];
    char errbuf[CURL_ERROR_SIZE];
    http_done_cb cb;
    void *data;
    uint64_t start_ns;
    struct http_call *next;
    struct http_call *prev;
};

struct http_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    char *ca_file;
    char *proxy;
    bool verify_tls;
    uint64_t connect_timeout_ms;
    struct http_call *calls;
    size_t n_calls;
    struct http_socket *sockets;
    unsigned open_handles;
    bool closing;
    void (*on_closed)(void *data);
    void *on_closed_data;
};

void http_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void http_client_options_default(struct http_client_options *o)
{
    memset(o, 0, sizeof(*o));
    o->verify_tls = true;
    o->connect_timeout_ms = 5000;
    o->max_connections = 8;
}

int http_request_add_header(struct http_request *req, const char *name, const char *value)
{
    if (req->n_headers >= HTTP_MAX_HEADERS)
        return -E2BIG;
    req->headers[req->n_headers].name = name;
    req->headers[req->n_headers].value = value;
    req->n_headers++;
    return 0;
}

size_t http_client_in_flight(const struct http_client *c)
{
    return c->n_calls;
}

/* ---- handle bookkeeping ------------------------------------------------------------ */

static void client_maybe_closed(struct http_client *c)
{
    if (!c->closing || c->open_handles > 0)
        return;
    void (*cb)(void *) = c->on_closed;
    void *data = c->on_closed_data;
    free(c->ca_file);
    free(c->proxy);
    free(c);
    if (cb)
        cb(data);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct http_client *c = h->data;
    if (h->type == UV_POLL)
        free((struct http_socket *)h); /* poll is the first member */
    c->open_handles--;
    client_maybe_closed(c);
}

static void socket_release(struct http_client *c, struct http_socket *s)
{
    for (struct http_socket **p = &c->sockets; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
}

/* ---- completion -------------------------------------------------------------------- */

static int map_curl_error(CURLcode code, bool too_large)
{
    switch (code) {
    case CURLE_OK:
        return 0;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return -EHOSTUNREACH;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return -ECONNRESET;
    case CURLE_PARTIAL_FILE:
        return -EPIPE;
    case CURLE_WRITE_ERROR:
        return too_large ? -EMSGSIZE : -EIO;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
        return -EPROTO;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    default:
        return -EIO;
    }
}

static void call_unlink(struct http_client *c, struct http_call *call)
{
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    c->n_calls--;
}

static void call_free(struct http_call *call)
{
    if (call->easy)
        curl_easy_cleanup(call->easy);
    curl_slist_free_all(call->headers);
    buf_release(&call->body);
    free(call);
}

static void call_finish(struct http_call *call, CURLcode code, int forced_error)
{
    struct http_client *c = call->client;
    struct http_response resp;
    memset(&resp, 0, sizeof(resp));
    if (forced_error) {
        resp.error = forced_error;
        snprintf(resp.error_text, sizeof(resp.error_text), "%s", strerror(-forced_error));
    } else {
        resp.error = map_curl_error(code, call->too_large);
        if (resp.error) {
            snprintf(resp.error_text, sizeof(resp.error_text), "%s",
                     call->errbuf[0] ? call->errbuf : curl_easy_strerror(code));
        } else {
            curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &resp.status);
        }
    }
    resp.body = call->body.data ? call->body.data : (const uint8_t *)"";
    resp.body_len = call->body.len;
    memcpy(resp.content_type, call->content_type, sizeof(resp.content_type));
    memcpy(resp.amzn_error_type, call->amzn_error_type, sizeof(resp.amzn_error_type));
    resp.elapsed_ns = clock_monotonic_ns() - call->start_ns;
    curl_multi_remove_handle(c->multi, call->easy);
    call_unlink(c, call);
    call->cb(&resp, call->data);
    call_free(call);
}

static void check_done(struct http_client *c)
{
    CURLMsg *msg;
    int pending;
    while ((msg = curl_multi_info_read(c->multi, &pending)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct http_call *call = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&call);
        if (call)
            call_finish(call, msg->data.result, 0);
    }
}

/* ---- curl <-> libuv ----------------------------------------------------------------- */

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct http_socket *s = (struct http_socket *)h;
    struct http_client *c = s->client;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(c->multi, s->fd, flags, &running);
    check_done(c);
}

static void on_timer(uv_timer_t *h)
{
    struct http_client *c = h->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
    struct http_client *c = userp;
    struct http_socket *s = socketp;
    (void)easy;
    if (action == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(c->multi, fd, NULL);
            socket_release(c, s);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1;
        if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->client = c;
        s->poll.data = c;
        s->next = c->sockets;
        c->sockets = s;
        c->open_handles++;
        curl_multi_assign(c->multi, fd, s);
    }
    int events = 0;
    if (action == CURL_POLL_IN || action == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (action == CURL_POLL_OUT || action == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct http_client *c = userp;
    (void)multi;
    if (timeout_ms < 0) {
        uv_timer_stop(&c->timer);
    } else {
        /* 0 means "now"; curl must not be re-entered from its own callback. */
        uv_timer_start(&c->timer, on_timer, timeout_ms == 0 ? 1 : (uint64_t)timeout_ms, 0);
    }
    return 0;
}

/* ---- requests ---------------------------------------------------------------------- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct http_call *call = userdata;
    size_t n = size * nmemb;
    if (buf_append(&call->body, ptr, n) != 0) {
        call->too_large = true;
        return 0;
    }
    return n;
}

static void copy_header_value(char *dst, size_t cap, const char *v, size_t len)
{
    while (len && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
        len--;
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

static size_t on_header(char *line, size_t size, size_t nitems, void *userdata)
{
    struct http_call *call = userdata;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue or a redirect): forget the last one. */
        call->content_type[0] = '\0';
        call->amzn_error_type[0] = '\0';
        return n;
    }
    static const char ct[] = "content-type:";
    static const char et[] = "x-amzn-errortype:";
    if (n > sizeof(ct) - 1 && strncasecmp(line, ct, sizeof(ct) - 1) == 0)
        copy_header_value(call->content_type, sizeof(call->content_type), line + sizeof(ct) - 1,
                          n - (sizeof(ct) - 1));
    else if (n > sizeof(et) - 1 && strncasecmp(line, et, sizeof(et) - 1) == 0)
        copy_header_value(call->amzn_error_type, sizeof(call->amzn_error_type),
                          line + sizeof(et) - 1, n - (sizeof(et) - 1));
    return n;
}

static int call_setup(struct http_client *c, struct http_call *call, const struct http_request *req)
{
    CURL *e = call->easy;
    bool ok = true;
    ok &= curl_easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_PRIVATE, call) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, call) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_HEADERDATA, call) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                           (long)(req->timeout_ms ? req->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS)) ==
          CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->verify_tls ? 1L : 0L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->verify_tls ? 2L : 0L) == CURLE_OK;
    if (c->ca_file)
        ok &= curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file) == CURLE_OK;
    if (c->proxy)
        ok &= curl_easy_setopt(e, CURLOPT_PROXY, c->proxy) == CURLE_OK;

    if (strcmp(req->method, "GET") == 0) {
        ok &= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    } else {
        ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "") ==
              CURLE_OK;
        ok &=
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len) == CURLE_OK;
        if (strcmp(req->method, "POST") != 0)
            ok &= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method) == CURLE_OK;
    }
    /* No "Expect: 100-continue" round trip, and no headers we did not ask for. */
    call->headers = curl_slist_append(NULL, "Expect:");
    call->headers = call->headers ? curl_slist_append(call->headers, "Accept:") : NULL;
    for (size_t i = 0; call->headers && i < req->n_headers; i++) {
        char line[8192];
        int n = snprintf(line, sizeof(line), "%s: %s", req->headers[i].name, req->headers[i].value);
        if (n < 0 || (size_t)n >= sizeof(line))
            return -EINVAL;
        struct curl_slist *grown = curl_slist_append(call->headers, line);
        if (!grown)
            return -ENOMEM;
        call->headers = grown;
    }
    if (!call->headers)
        return -ENOMEM;
    ok &= curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->headers) == CURLE_OK;
    return ok ? 0 : -EINVAL;
}

int http_submit(struct http_client *c, const struct http_request *req, http_done_cb cb, void *data)
{
    if (c->closing)
        return -ESHUTDOWN;
    if (!req->method || !req->url || !cb)
        return -EINVAL;
    struct http_call *call = calloc(1, sizeof(*call));
    if (!call)
        return -ENOMEM;
    call->client = c;
    call->cb = cb;
    call->data = data;
    buf_init(&call->body,
             req->max_response_bytes ? req->max_response_bytes : HTTP_DEFAULT_MAX_RESPONSE);
    call->easy = curl_easy_init();
    if (!call->easy) {
        call_free(call);
        return -ENOMEM;
    }
    int r = call_setup(c, call, req);
    if (r != 0) {
        call_free(call);
        return r;
    }
    call->start_ns = clock_monotonic_ns();
    if (curl_multi_add_handle(c->multi, call->easy) != CURLM_OK) {
        call_free(call);
        return -ENOMEM;
    }
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    c->n_calls++;
    return 0;
}

int http_client_create(uv_loop_t *loop, const struct http_client_options *o,
                       struct http_client **ret)
{
    struct http_client *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->loop = loop;
    c->verify_tls = o->verify_tls;
    c->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 5000;
    c->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
    c->proxy = o->proxy ? strdup(o->proxy) : NULL;
    c->multi = curl_multi_init();
    if (!c->multi || (o->ca_file && !c->ca_file) || (o->proxy && !c->proxy)) {
        if (c->multi)
            curl_multi_cleanup(c->multi);
        free(c->ca_file);
        free(c->proxy);
        free(c);
        return -ENOMEM;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      (long)(o->max_connections ? o->max_connections : 8));
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 1;
    *ret = c;
    return 0;
}

void http_client_close(struct http_client *c, void (*on_closed)(void *data), void *data)
{
    if (!c)
        return;
    c->closing = true;
    c->on_closed = on_closed;
    c->on_closed_data = data;
    while (c->calls)
        call_finish(c->calls, CURLE_OK, -ECANCELED);
    /* curl closes its connections here and reports them through socket_cb. */
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    while (c->sockets)
        socket_release(c, c->sockets);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}
