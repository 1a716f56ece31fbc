/*
 * httpd: strict HTTP/1.1 request parser and a keep-alive TCP server on libuv.
 *
 * DESIGN
 * The parser is a single pass over a contiguous buffer: it first finds the end of the
 * head (CRLF CRLF) within max_header_bytes, then checks the request line and every field
 * line, remembering the few fields that frame the message (Content-Length,
 * Transfer-Encoding, Host, Connection, Expect). Anything ambiguous about framing is an
 * error rather than a guess, because a proxy that frames differently from its peer is
 * the classic request-smuggling hole.
 *
 * Chunked bodies (RFC 9112 7.1) are decoded by a separate, resumable state machine that
 * works in place: decoded data is moved down over the framing it came in, so it always
 * trails what has been read and never needs a second buffer. The state lives with the
 * caller; each call resumes at the first byte not yet read, which makes the decoder
 * indifferent to how the bytes were split across reads (the unit tests and the fuzz
 * target check that). Every line it waits for is bounded, so "need more" can never
 * grow without limit, and the decoded size is checked against max_body_bytes when a
 * chunk-size line is read, before its data is buffered.
 *
 * The server keeps, per connection, one input buffer capped at head + body limits (plus
 * the bounded chunk framing). It
 * reads until the parser says a request is complete, stops reading, hands the request
 * (pointing into that buffer) to the owner, and resumes only when the answer has been
 * written: one request at a time per connection, which is all that SDK clients do and
 * keeps the buffer's lifetime trivial. The buffer is allocated on first use and reused
 * for the connection's life.
 */
#include "agent/httpd.h"
#include "agent/netaddr.h"

#include "agent/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- parser ------------------------------------------------------------------------ */

static bool is_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_vchar(uint8_t c)
{
    return c > 0x20 && c < 0x7f;
}

/* A field value byte: VCHAR, SP, HTAB or obs-text. */
static bool is_field_char(uint8_t c)
{
    return c == ' ' || c == '\t' || is_vchar(c) || c >= 0x80;
}

bool httpd_str_eq(struct httpd_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.p, lit, n) == 0;
}

bool httpd_str_eq_nocase(struct httpd_str s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char a = s.p[i], b = lit[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (char)(b - 'A' + 'a');
        if (a != b)
            return false;
    }
    return true;
}

const struct httpd_field *httpd_request_field(const struct httpd_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_fields; i++)
        if (httpd_str_eq_nocase(req->fields[i].name, name))
            return &req->fields[i];
    return NULL;
}

int httpd_parse_status(enum httpd_parse_result r)
{
    return r < 0 ? -(int)r : 0;
}

const char *httpd_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* Index of the first "\r\n\r\n" at or after `from` within [0, len), or -1. */
static long find_head_end(const uint8_t *buf, size_t len, size_t from)
{
    for (size_t i = from; i + 3 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            return (long)i;
    return -1;
}

/* Does a comma-separated header value list contain `token` (case-insensitive)? */
static bool list_has_token(struct httpd_str v, const char *token)
{
    size_t i = 0;
    while (i < v.len) {
        while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
            i++;
        size_t start = i;
        while (i < v.len && v.p[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v.p[end - 1] == ' ' || v.p[end - 1] == '\t'))
            end--;
        if (end > start && httpd_str_eq_nocase((struct httpd_str){v.p + start, end - start}, token))
            return true;
    }
    return false;
}

static int parse_content_length(struct httpd_str v, uint64_t *ret)
{
    if (v.len == 0 || v.len > 15)
        return -1;
    uint64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -1;
        n = n * 10 + (uint64_t)(v.p[i] - '0');
    }
    *ret = n;
    return 0;
}

/* What the Transfer-Encoding field lines said, in order (RFC 9112 6.1). */
struct te_codings {
    unsigned n;       /* codings seen */
    unsigned chunked; /* how many of them were "chunked" */
    bool other;       /* a coding other than chunked */
    bool last_chunked;
};

/* Add one Transfer-Encoding field value (a comma-separated list) to `te`. */
static int te_add(struct te_codings *te, struct httpd_str v)
{
    size_t i = 0;
    bool any = false;
    while (i < v.len) {
        while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
            i++;
        size_t start = i;
        while (i < v.len && v.p[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v.p[end - 1] == ' ' || v.p[end - 1] == '\t'))
            end--;
        if (end == start)
            continue;
        any = true;
        te->n++;
        te->last_chunked =
            httpd_str_eq_nocase((struct httpd_str){v.p + start, end - start}, "chunked");
        if (te->last_chunked)
            te->chunked++;
        else
            te->other = true;
    }
    return any ? 0 : -1;
}

/* Request line: method SP request-target SP HTTP-version. */
static enum httpd_parse_result parse_request_line(const uint8_t *p, size_t len,
                                                  struct httpd_request *req)
{
    size_t i = 0;
    while (i < len && is_tchar(p[i]))
        i++;
    if (i == 0 || i > 32 || i >= len || p[i] != ' ')
        return HTTPD_PARSE_BAD_REQUEST;
    req->method = (struct httpd_str){(const char *)p, i};
    size_t t = ++i;
    while (i < len && is_vchar(p[i]))
        i++;
    if (i == t || i >= len || p[i] != ' ')
        return HTTPD_PARSE_BAD_REQUEST;
    req->target = (struct httpd_str){(const char *)p + t, i - t};
    req->path = req->target;
    const char *q = memchr(req->target.p, '?', req->target.len);
    if (q)
        req->path.len = (size_t)(q - req->target.p);
    i++;
    /* "HTTP/" DIGIT "." DIGIT, nothing after it. */
    if (len - i != 8 || memcmp(p + i, "HTTP/", 5) != 0 || p[i + 6] != '.' || p[i + 5] < '0' ||
        p[i + 5] > '9' || p[i + 7] < '0' || p[i + 7] > '9')
        return HTTPD_PARSE_BAD_REQUEST;
    if (p[i + 5] != '1' || p[i + 7] > '1')
        return HTTPD_PARSE_VERSION_UNSUPPORTED;
    req->version_minor = p[i + 7] - '0';
    return HTTPD_PARSE_OK;
}

enum httpd_parse_result httpd_parse_request(const uint8_t *buf, size_t len,
                                            const struct httpd_limits *lim,
                                            struct httpd_request *req, size_t *ret_consumed)
{
    memset(req, 0, sizeof(*req));
    *ret_consumed = 0;
    /* RFC 9112 2.2: ignore empty lines before the request line. */
    size_t start = 0;
    while (start + 1 < len && buf[start] == '\r' && buf[start + 1] == '\n' &&
           start < lim->max_header_bytes)
        start += 2;
    size_t scan = len < lim->max_header_bytes ? len : lim->max_header_bytes;
    long end = find_head_end(buf, scan, start);
    if (end < 0)
        return len >= lim->max_header_bytes ? HTTPD_PARSE_HEADERS_TOO_LARGE : HTTPD_PARSE_NEED_MORE;
    size_t head_len = (size_t)end + 4;

    /* Every line of the head, including the last, ends with CRLF; no other CR or LF. */
    const uint8_t *p = buf + start;
    const uint8_t *head_end = buf + (size_t)end + 2;
    const uint8_t *eol = NULL;
    for (eol = p; eol < head_end && *eol != '\r' && *eol != '\n'; eol++)
        ;
    if (eol >= head_end || eol[0] != '\r' || eol[1] != '\n')
        return HTTPD_PARSE_BAD_REQUEST;
    enum httpd_parse_result r = parse_request_line(p, (size_t)(eol - p), req);
    if (r != HTTPD_PARSE_OK)
        return r;

    bool have_length = false, have_te = false, have_host = false;
    struct te_codings te = {0};
    uint64_t content_length = 0;
    bool conn_close = false, conn_keep_alive = false;
    for (p = eol + 2; p < head_end; p = eol + 2) {
        for (eol = p; eol < head_end && *eol != '\r' && *eol != '\n'; eol++)
            ;
        if (eol >= head_end || eol[0] != '\r' || eol[1] != '\n')
            return HTTPD_PARSE_BAD_REQUEST;
        if (*p == ' ' || *p == '\t')
            return HTTPD_PARSE_BAD_REQUEST; /* obs-fold */
        const uint8_t *c = p;
        while (c < eol && is_tchar(*c))
            c++;
        if (c == p || c >= eol || *c != ':')
            return HTTPD_PARSE_BAD_REQUEST; /* empty name, bad byte, or space before ':' */
        if (req->n_fields >= HTTPD_MAX_HEADERS)
            return HTTPD_PARSE_HEADERS_TOO_LARGE;
        const uint8_t *v = c + 1, *ve = eol;
        for (const uint8_t *x = v; x < ve; x++)
            if (!is_field_char(*x))
                return HTTPD_PARSE_BAD_REQUEST;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        struct httpd_field *f = &req->fields[req->n_fields++];
        f->name = (struct httpd_str){(const char *)p, (size_t)(c - p)};
        f->value = (struct httpd_str){(const char *)v, (size_t)(ve - v)};
        if (httpd_str_eq_nocase(f->name, "content-length")) {
            if (have_length || parse_content_length(f->value, &content_length) != 0)
                return HTTPD_PARSE_BAD_REQUEST;
            have_length = true;
        } else if (httpd_str_eq_nocase(f->name, "transfer-encoding")) {
            have_te = true;
            if (te_add(&te, f->value) != 0)
                return HTTPD_PARSE_BAD_REQUEST; /* empty */
        } else if (httpd_str_eq_nocase(f->name, "host")) {
            if (have_host)
                return HTTPD_PARSE_BAD_REQUEST;
            have_host = true;
        } else if (httpd_str_eq_nocase(f->name, "connection")) {
            conn_close = conn_close || list_has_token(f->value, "close");
            conn_keep_alive = conn_keep_alive || list_has_token(f->value, "keep-alive");
        } else if (httpd_str_eq_nocase(f->name, "expect")) {
            if (httpd_str_eq_nocase(f->value, "100-continue"))
                req->expect_continue = true;
        }
    }
    if (req->version_minor == 1 && !have_host)
        return HTTPD_PARSE_BAD_REQUEST; /* RFC 9112 3.2 */
    if (have_te) {
        /* RFC 9112 6.1-6.3: with both, the framing is ambiguous (smuggling); HTTP/1.0
         * has no chunked; chunked must be the final coding, once; we know no other. */
        if (have_length || req->version_minor == 0)
            return HTTPD_PARSE_BAD_REQUEST;
        if (!te.last_chunked)
            return te.chunked ? HTTPD_PARSE_BAD_REQUEST : HTTPD_PARSE_NOT_IMPLEMENTED;
        if (te.chunked > 1)
            return HTTPD_PARSE_BAD_REQUEST;
        if (te.other)
            return HTTPD_PARSE_NOT_IMPLEMENTED;
    }
    if (content_length > lim->max_body_bytes)
        return HTTPD_PARSE_BODY_TOO_LARGE;
    req->keep_alive = req->version_minor == 1 ? !conn_close : (conn_keep_alive && !conn_close);
    if (have_te) {
        req->chunked = true;
        *ret_consumed = head_len;
        return HTTPD_PARSE_HEAD_DONE;
    }
    if (len - head_len < content_length) {
        *ret_consumed = head_len;
        return HTTPD_PARSE_HEAD_DONE;
    }
    req->body = buf + head_len;
    req->body_len = (size_t)content_length;
    *ret_consumed = head_len + (size_t)content_length;
    return HTTPD_PARSE_OK;
}

/* Parse a chunk-size line without its CRLF: 1*HEXDIG [ BWS ";" chunk-ext ]. Extensions
 * are ignored, but may only hold field-value bytes. */
static enum httpd_parse_result parse_chunk_line(const uint8_t *p, size_t n, uint64_t *ret_size)
{
    uint64_t size = 0;
    size_t i = 0;
    for (; i < n; i++) {
        uint8_t c = p[i], d;
        if (c >= '0' && c <= '9')
            d = (uint8_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (uint8_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (uint8_t)(c - 'A' + 10);
        else
            break;
        if (i >= HTTPD_MAX_CHUNK_SIZE_DIGITS)
            return HTTPD_PARSE_BAD_REQUEST; /* leading zeros included */
        size = size << 4 | d;
    }
    if (i == 0)
        return HTTPD_PARSE_BAD_REQUEST;
    if (i < n) {
        while (i < n && (p[i] == ' ' || p[i] == '\t'))
            i++;
        if (i >= n || p[i] != ';')
            return HTTPD_PARSE_BAD_REQUEST;
        for (; i < n; i++)
            if (!is_field_char(p[i]))
                return HTTPD_PARSE_BAD_REQUEST;
    }
    *ret_size = size;
    return HTTPD_PARSE_OK;
}

/* A trailer field line without its CRLF: checked like a header field, then dropped. */
static bool valid_field_line(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && is_tchar(p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ':')
        return false;
    for (i++; i < n; i++)
        if (!is_field_char(p[i]))
            return false;
    return true;
}

/*
 * Find the CRLF ending the line at p[0..avail), looking at no more than max + 2 bytes.
 * Returns the line length (CRLF excluded), -1 when more bytes are needed, -2 for a bare
 * CR or LF, -3 when the line is longer than max.
 */
static long find_line(const uint8_t *p, size_t avail, size_t max)
{
    size_t n = avail < max + 2 ? avail : max + 2;
    size_t i = 0;
    for (; i < n && p[i] != '\r'; i++)
        if (p[i] == '\n')
            return -2;
    if (i > max)
        return -3;
    if (i == n)
        return n > max ? -3 : -1;
    if (i + 1 >= avail)
        return -1;
    if (p[i + 1] != '\n')
        return -2;
    return (long)i;
}

enum httpd_parse_result httpd_chunked_decode(struct httpd_chunked *st, uint8_t *body, size_t len,
                                             size_t max_body_bytes)
{
    for (;;) {
        const uint8_t *p = body + st->in;
        size_t avail = len - st->in;
        switch (st->state) {
        case HTTPD_CHUNK_SIZE: {
            long n = find_line(p, avail, HTTPD_MAX_CHUNK_LINE_BYTES);
            if (n == -1)
                return HTTPD_PARSE_NEED_MORE;
            if (n < 0)
                return HTTPD_PARSE_BAD_REQUEST;
            uint64_t size = 0;
            enum httpd_parse_result r = parse_chunk_line(p, (size_t)n, &size);
            if (r != HTTPD_PARSE_OK)
                return r;
            if (size > max_body_bytes - st->out)
                return HTTPD_PARSE_BODY_TOO_LARGE;
            st->in += (size_t)n + 2;
            st->left = size;
            st->state = size ? HTTPD_CHUNK_DATA : HTTPD_CHUNK_TRAILER;
            break;
        }
        case HTTPD_CHUNK_DATA: {
            if (avail == 0)
                return HTTPD_PARSE_NEED_MORE;
            size_t n = st->left < avail ? (size_t)st->left : avail;
            memmove(body + st->out, p, n); /* out <= in: never ahead of the reading */
            st->out += n;
            st->in += n;
            st->left -= n;
            if (st->left == 0)
                st->state = HTTPD_CHUNK_DATA_END;
            break;
        }
        case HTTPD_CHUNK_DATA_END:
            if (avail >= 1 && p[0] != '\r')
                return HTTPD_PARSE_BAD_REQUEST;
            if (avail >= 2 && p[1] != '\n')
                return HTTPD_PARSE_BAD_REQUEST;
            if (avail < 2)
                return HTTPD_PARSE_NEED_MORE;
            st->in += 2;
            st->state = HTTPD_CHUNK_SIZE;
            break;
        case HTTPD_CHUNK_TRAILER: {
            size_t room = HTTPD_MAX_TRAILER_BYTES - st->trailer_bytes;
            long n = find_line(p, avail, room >= 2 ? room - 2 : 0);
            if (n == -1)
                return HTTPD_PARSE_NEED_MORE;
            if (n == -3)
                return HTTPD_PARSE_HEADERS_TOO_LARGE;
            if (n < 0)
                return HTTPD_PARSE_BAD_REQUEST;
            st->in += (size_t)n + 2;
            if (n == 0) {
                st->state = HTTPD_CHUNK_DONE;
                break;
            }
            if (!valid_field_line(p, (size_t)n))
                return HTTPD_PARSE_BAD_REQUEST; /* also obs-fold */
            st->trailer_bytes += (size_t)n + 2;
            break;
        }
        case HTTPD_CHUNK_DONE:
            return HTTPD_PARSE_OK;
        default:
            return HTTPD_PARSE_BAD_REQUEST;
        }
    }
}

size_t httpd_chunked_compact(struct httpd_chunked *st, uint8_t *body, size_t len)
{
    size_t gap = st->in - st->out;
    if (gap == 0)
        return len;
    memmove(body + st->out, body + st->in, len - st->in);
    st->in = st->out;
    return len - gap;
}

/* ---- server ------------------------------------------------------------------------ */

struct httpd_conn {
    struct httpd *server;
    struct httpd_conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t write_req;
    uv_write_t continue_req;
    struct buf in;  /* received bytes: the current request, then what was pipelined */
    struct buf out; /* the answer being written */
    struct httpd_request req;
    struct httpd_chunked chunk; /* decoder state of the current chunked body */
    size_t req_len;             /* bytes of `in` the current request occupies */
    unsigned handles;           /* open uv handles (tcp, timer) */
    bool pending;               /* a request was delivered and is not answered yet */
    bool writing;               /* `out` is being written */
    bool continue_sent;         /* 100 Continue already sent for the current request */
    bool alive;                 /* not closing */
    bool close_after;           /* close once the current answer is written */
    char peer[64];
};

struct httpd {
    uv_loop_t *loop;
    struct httpd_options opts;
    httpd_request_cb on_request;
    void *data;
    uv_tcp_t listener;
    bool listener_open;
    bool closing;
    struct httpd_conn *conns;
    unsigned n_conns;
    struct httpd_stats stats;
    void (*on_closed)(void *data);
    void *on_closed_data;
};

void httpd_options_default(struct httpd_options *o)
{
    memset(o, 0, sizeof(*o));
    o->limits.max_header_bytes = HTTPD_DEFAULT_MAX_HEADER_BYTES;
    o->limits.max_body_bytes = HTTPD_DEFAULT_MAX_BODY_BYTES;
    o->max_connections = HTTPD_DEFAULT_MAX_CONNECTIONS;
    o->idle_timeout_ms = HTTPD_DEFAULT_IDLE_TIMEOUT_MS;
}

int httpd_create(uv_loop_t *loop, const struct httpd_options *o, httpd_request_cb on_request,
                 void *data, struct httpd **ret)
{
    *ret = NULL;
    if (!loop || !on_request)
        return -EINVAL;
    struct httpd *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    if (o)
        s->opts = *o;
    else
        httpd_options_default(&s->opts);
    if (!s->opts.limits.max_header_bytes)
        s->opts.limits.max_header_bytes = HTTPD_DEFAULT_MAX_HEADER_BYTES;
    if (!s->opts.limits.max_body_bytes)
        s->opts.limits.max_body_bytes = HTTPD_DEFAULT_MAX_BODY_BYTES;
    if (!s->opts.max_connections)
        s->opts.max_connections = HTTPD_DEFAULT_MAX_CONNECTIONS;
    if (!s->opts.idle_timeout_ms)
        s->opts.idle_timeout_ms = HTTPD_DEFAULT_IDLE_TIMEOUT_MS;
    s->loop = loop;
    s->on_request = on_request;
    s->data = data;
    *ret = s;
    return 0;
}

static void maybe_finish_close(struct httpd *s)
{
    if (s->closing && !s->listener_open && s->n_conns == 0) {
        void (*cb)(void *) = s->on_closed;
        void *data = s->on_closed_data;
        free(s);
        if (cb)
            cb(data);
    }
}

static void conn_free_if_done(struct httpd_conn *c)
{
    if (c->handles > 0 || c->pending || c->writing)
        return;
    struct httpd *s = c->server;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_conns--;
    buf_release(&c->in);
    buf_release(&c->out);
    free(c);
    maybe_finish_close(s);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct httpd_conn *c = h->data;
    c->handles--;
    conn_free_if_done(c);
}

static void conn_close(struct httpd_conn *c)
{
    if (!c->alive)
        return;
    c->alive = false;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_idle_timeout(uv_timer_t *t)
{
    struct httpd_conn *c = t->data;
    c->server->stats.timeouts++;
    conn_close(c);
}

static void arm_idle_timer(struct httpd_conn *c)
{
    if (c->alive)
        uv_timer_start(&c->timer, on_idle_timeout, c->server->opts.idle_timeout_ms, 0);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b);
static void process_input(struct httpd_conn *c);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct httpd_conn *c = h->data;
    size_t room = c->in.max - c->in.len;
    size_t want = room < 65536 ? room : 65536;
    if (want == 0 || buf_reserve(&c->in, want) != 0) {
        b->base = NULL;
        b->len = 0;
        return;
    }
    b->base = (char *)c->in.data + c->in.len;
    b->len = want;
}

static int format_response(struct buf *out, int status, const struct httpd_response_header *h,
                           size_t n, const uint8_t *body, size_t body_len, bool keep_alive,
                           bool head_only, const char *server_name)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    buf_reset(out);
    int r = buf_printf(
        out, "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Length: %zu\r\nConnection: %s\r\n", status,
        httpd_reason(status), date, body_len, keep_alive ? "keep-alive" : "close");
    if (r == 0 && server_name)
        r = buf_printf(out, "Server: %s\r\n", server_name);
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (strpbrk(h[i].name, "\r\n:") || strpbrk(h[i].value, "\r\n"))
            return -EINVAL;
        r = buf_printf(out, "%s: %s\r\n", h[i].name, h[i].value);
    }
    if (r == 0)
        r = buf_append(out, "\r\n", 2);
    if (r == 0 && body_len && !head_only)
        r = buf_append(out, body, body_len);
    return r;
}

static void on_write_done(uv_write_t *w, int status)
{
    struct httpd_conn *c = w->data;
    c->writing = false;
    if (!c->alive) {
        conn_free_if_done(c);
        return;
    }
    if (status != 0 || c->close_after || c->server->closing) {
        conn_close(c);
        return;
    }
    /* The answered request's bytes are no longer referenced: drop them and go on with
     * whatever the peer pipelined. */
    buf_consume(&c->in, c->req_len);
    c->req_len = 0;
    memset(&c->chunk, 0, sizeof(c->chunk));
    c->continue_sent = false;
    arm_idle_timer(c);
    process_input(c);
    if (c->alive && !c->pending && !c->writing)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static int write_out(struct httpd_conn *c)
{
    uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
    c->write_req.data = c;
    int r = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_write_done);
    if (r == 0)
        c->writing = true;
    return r;
}

/* The server answers by itself (protocol errors) and closes afterwards. */
static void answer_error(struct httpd_conn *c, int status)
{
    c->server->stats.bad_requests++;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->close_after = true;
    if (format_response(&c->out, status, NULL, 0, NULL, 0, false, false,
                        c->server->opts.server_name) != 0 ||
        write_out(c) != 0)
        conn_close(c);
}

static void on_continue_written(uv_write_t *w, int status)
{
    (void)w;
    (void)status; /* a failure shows up on the next read or write */
}

/*
 * Decode what has arrived of the chunked body after the head_len bytes of head, and
 * squeeze the framing out of the buffer so it holds head + decoded body + the unread
 * tail. On HTTPD_PARSE_OK the request's body is set and the message occupies exactly
 * head_len + body_len bytes of `in`; pipelined bytes follow.
 */
static enum httpd_parse_result decode_chunked(struct httpd_conn *c, size_t head_len)
{
    uint8_t *body = c->in.data + head_len;
    size_t len = c->in.len - head_len;
    enum httpd_parse_result r =
        httpd_chunked_decode(&c->chunk, body, len, c->server->opts.limits.max_body_bytes);
    if (r < 0)
        return r;
    /* Shrinking in place keeps the buf's invariants (NUL past len, len <= cap). */
    c->in.len = head_len + httpd_chunked_compact(&c->chunk, body, len);
    c->in.data[c->in.len] = '\0';
    if (r == HTTPD_PARSE_OK) {
        c->req.body = body;
        c->req.body_len = c->chunk.out;
    }
    return r;
}

static void process_input(struct httpd_conn *c)
{
    if (c->pending || c->writing || !c->alive)
        return;
    size_t consumed = 0;
    enum httpd_parse_result r =
        httpd_parse_request(c->in.data, c->in.len, &c->server->opts.limits, &c->req, &consumed);
    switch (r) {
    case HTTPD_PARSE_NEED_MORE:
        return;
    case HTTPD_PARSE_HEAD_DONE:
        if (c->req.chunked) {
            r = decode_chunked(c, consumed);
            if (r == HTTPD_PARSE_OK) {
                consumed += c->req.body_len;
                break;
            }
            if (r != HTTPD_PARSE_NEED_MORE) {
                answer_error(c, httpd_parse_status(r));
                return;
            }
        }
        if (c->req.expect_continue && !c->continue_sent) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            uv_buf_t b = uv_buf_init((char *)cont, sizeof(cont) - 1);
            c->continue_req.data = c;
            if (uv_write(&c->continue_req, (uv_stream_t *)&c->tcp, &b, 1, on_continue_written) == 0)
                c->continue_sent = true;
        }
        return;
    case HTTPD_PARSE_OK:
        break;
    default:
        answer_error(c, httpd_parse_status(r));
        return;
    }
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_stop(&c->timer);
    c->req_len = consumed;
    c->pending = true;
    c->close_after = !c->req.keep_alive;
    c->server->stats.requests++;
    c->server->on_request(c, &c->req, c->server->data);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct httpd_conn *c = st->data;
    (void)b;
    if (nread == UV_ENOBUFS) {
        /* The buffer is full yet the parser wants more: cannot happen with a cap of
         * head + body limits, but never spin on it. */
        answer_error(c, 413);
        return;
    }
    if (nread < 0) {
        conn_close(c);
        return;
    }
    buf_advance(&c->in, (size_t)nread);
    process_input(c);
}

int httpd_respond(struct httpd_conn *c, int status, const struct httpd_response_header *headers,
                  size_t n_headers, const uint8_t *body, size_t body_len, bool close)
{
    if (!c->pending)
        return -EINVAL;
    c->pending = false;
    if (!c->alive) {
        conn_free_if_done(c);
        return 0;
    }
    if (close || c->server->closing)
        c->close_after = true;
    bool head_only = httpd_str_eq(c->req.method, "HEAD");
    int r = format_response(&c->out, status, headers, n_headers, body, body_len, !c->close_after,
                            head_only, c->server->opts.server_name);
    if (r == 0)
        r = write_out(c);
    if (r != 0) {
        conn_close(c);
        return r == -EINVAL || r == -ENOBUFS ? r : -ENOMEM;
    }
    return 0;
}

bool httpd_conn_alive(const struct httpd_conn *c)
{
    return c->alive;
}

const char *httpd_conn_peer(const struct httpd_conn *c)
{
    return c->peer;
}

static void peer_name(uv_tcp_t *t, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            uv_ip4_name(a, ip, sizeof(ip));
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, ip, sizeof(ip));
            port = ntohs(a->sin6_port);
        }
    }
    snprintf(out, cap, "%s:%d", ip, port);
}

static void on_refused_closed(uv_handle_t *h)
{
    free(h);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct httpd *s = listener->data;
    if (status != 0 || s->closing)
        return;
    if (s->n_conns >= s->opts.max_connections) {
        /* Accept and close at once, so the backlog does not fill with a stale peer. */
        uv_tcp_t *t = malloc(sizeof(*t));
        if (!t)
            return;
        uv_tcp_init(s->loop, t);
        if (uv_accept(listener, (uv_stream_t *)t) == 0)
            s->stats.connections_refused++;
        uv_close((uv_handle_t *)t, on_refused_closed);
        return;
    }
    struct httpd_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->server = s;
    /* Room for a chunked body's bounded framing too: a partial chunk-size or trailer line
     * is all that stays undecoded while the parser waits for more. */
    buf_init(&c->in, s->opts.limits.max_header_bytes + s->opts.limits.max_body_bytes +
                         HTTPD_MAX_CHUNK_LINE_BYTES + HTTPD_MAX_TRAILER_BYTES + 4);
    buf_init(&c->out, HTTPD_MAX_RESPONSE_BYTES);
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles = 2;
    c->alive = true;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    s->stats.connections++;
    uv_tcp_nodelay(&c->tcp, 1);
    peer_name(&c->tcp, c->peer, sizeof(c->peer));
    arm_idle_timer(c);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
}

int httpd_listen(struct httpd *s, const char *address)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (s->listener_open || s->closing)
        return -EALREADY;
    int r = netaddr_parse(address, &ss);
    if (r != 0)
        return r;
    r = uv_tcp_init(s->loop, &s->listener);
    if (r != 0)
        return r;
    s->listener.data = s;
    s->listener_open = true;
    r = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
    return r;
}

int httpd_port(const struct httpd *s)
{
    if (!s->listener_open)
        return 0;
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

const struct httpd_stats *httpd_get_stats(const struct httpd *s)
{
    return &s->stats;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct httpd *s = h->data;
    s->listener_open = false;
    maybe_finish_close(s);
}

void httpd_close(struct httpd *s, void (*on_closed)(void *data), void *data)
{
    if (!s)
        return;
    s->closing = true;
    s->on_closed = on_closed;
    s->on_closed_data = data;
    struct httpd_conn *next = NULL;
    for (struct httpd_conn *c = s->conns; c; c = next) {
        next = c->next;
        if (!c->pending && !c->writing)
            conn_close(c);
        else
            c->close_after = true;
    }
    if (s->listener_open) {
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        return;
    }
    maybe_finish_close(s);
}
