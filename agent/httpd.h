/*
 * httpd: a small, strict HTTP/1.1 server for local listeners (the X-Ray sampling proxy,
 * OTLP/HTTP), in two layers:
 *   - httpd_parse_request() and httpd_chunked_decode(): pure, incremental parsers of
 *     one request head + body from a byte buffer (no I/O, no allocation, no logging;
 *     fuzzed); the chunked decoder de-chunks the body in place;
 *   - struct httpd: a TCP listener with keep-alive connections on the libuv loop it is
 *     given, calling back once per complete request.
 *
 * Contract
 * - What is accepted: HTTP/1.0 and HTTP/1.1 requests, header block at most
 *   max_header_bytes (request line included), at most HTTPD_MAX_HEADERS fields, a body
 *   framed by Content-Length or, in HTTP/1.1, by "Transfer-Encoding: chunked" (RFC 9112
 *   7.1), in both cases at most max_body_bytes once decoded. An oversized head 431, an
 *   oversized body 413 (for chunked bodies as soon as a chunk-size line announces more
 *   than the limit allows, never after buffering it), a malformed request 400, an
 *   unsupported version 505, a transfer coding other than chunked 501. Request-smuggling
 *   defences as in RFC 9112: obsolete line folding, whitespace before a colon, bare CR or
 *   LF, duplicate or invalid Content-Length, Transfer-Encoding together with
 *   Content-Length, Transfer-Encoding in HTTP/1.0, chunked not the final coding or
 *   applied twice are all 400. Chunked framing: chunk-size is 1 to
 *   HTTPD_MAX_CHUNK_SIZE_DIGITS hex digits, a chunk-size line (extensions included,
 *   which are ignored) at most HTTPD_MAX_CHUNK_LINE_BYTES, trailer fields are checked
 *   and discarded, the trailer section at most HTTPD_MAX_TRAILER_BYTES (431). After an
 *   error answer the connection is closed. Expect: 100-continue is answered before the
 *   body is read.
 * - Keep-alive: HTTP/1.1 unless "Connection: close", HTTP/1.0 only with
 *   "Connection: keep-alive". Requests on one connection are answered in order; the
 *   server reads no further request from a connection until the current one has been
 *   answered (no pipelining in parallel; pipelined bytes wait in the buffer).
 * - Threads: a struct httpd lives on one loop; every call, and every callback, happens
 *   on that loop's thread. Which loop is the caller's choice.
 * - Requests: on_request receives a borrowed struct httpd_request, valid until
 *   httpd_respond() is called for it (not only until the callback returns), so a handler
 *   may answer later, e.g. after an upstream call. Every delivered request must be
 *   answered exactly once with httpd_respond(), also when the peer has gone meanwhile
 *   (httpd_conn_alive() tells) or the server is closing: the connection's memory is
 *   held until then.
 * - httpd_respond() copies what it needs (status, headers, body) and returns 0, or
 *   -EINVAL (a header with CR/LF), -ENOBUFS (answer over HTTPD_MAX_RESPONSE_BYTES) or
 *   -ENOMEM; the connection is then closed; the request still counts as answered.
 *   It sets Content-Length, Connection and Date itself; do not pass them.
 * - httpd_close() stops accepting, closes idle connections at once and the others as
 *   soon as their pending request is answered, then frees the server and calls
 *   on_closed once every handle is closed (from a close callback, or before httpd_close
 *   returns when nothing was open). Options' strings (server_name) are borrowed.
 * - Errors: constructors and actions return 0 or -errno (-EINVAL for a bad address,
 *   -EADDRINUSE, ...). The server never logs: protocol errors and refused connections
 *   are counted in struct httpd_stats for the owner to publish.
 */
#ifndef OSPREY_HTTPD_H
#define OSPREY_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define HTTPD_MAX_HEADERS              48
#define HTTPD_DEFAULT_MAX_HEADER_BYTES (16u * 1024u)
#define HTTPD_DEFAULT_MAX_BODY_BYTES   (1024u * 1024u)
#define HTTPD_DEFAULT_MAX_CONNECTIONS  64u
#define HTTPD_DEFAULT_IDLE_TIMEOUT_MS  30000u
#define HTTPD_MAX_RESPONSE_BYTES       (8u * 1024u * 1024u) /* head + body of one answer */
#define HTTPD_MAX_CHUNK_SIZE_DIGITS    16                   /* hex digits of one chunk-size */
#define HTTPD_MAX_CHUNK_LINE_BYTES     1024u /* chunk-size + extensions, CRLF excluded */
#define HTTPD_MAX_TRAILER_BYTES        4096u /* trailer section, CRLFs included */

/* A byte range inside the parsed buffer; not NUL-terminated. */
struct httpd_str {
    const char *p;
    size_t len;
};

struct httpd_field {
    struct httpd_str name;
    struct httpd_str value; /* surrounding whitespace removed */
};

struct httpd_request {
    struct httpd_str method; /* token, case-sensitive ("POST") */
    struct httpd_str target; /* request-target as sent ("/GetSamplingRules?x=1") */
    struct httpd_str path;   /* target up to '?' */
    int version_minor;       /* HTTP/1.<minor>: 0 or 1 */
    struct httpd_field fields[HTTPD_MAX_HEADERS];
    size_t n_fields;
    const uint8_t *body;
    size_t body_len;
    bool keep_alive;      /* the connection may serve another request */
    bool expect_continue; /* "Expect: 100-continue" was sent */
    bool chunked;         /* "Transfer-Encoding: chunked": body via httpd_chunked_decode() */
};

struct httpd_limits {
    size_t max_header_bytes; /* request line + fields + blank line */
    size_t max_body_bytes;
};

/* Outcome of parsing; the negative ones map to the status the server answers. */
enum httpd_parse_result {
    HTTPD_PARSE_OK = 0,                    /* complete request in ret_req */
    HTTPD_PARSE_NEED_MORE = 1,             /* incomplete: read more and call again */
    HTTPD_PARSE_HEAD_DONE = 2,             /* head complete, body incomplete or chunked */
    HTTPD_PARSE_BAD_REQUEST = -400,        /* malformed */
    HTTPD_PARSE_BODY_TOO_LARGE = -413,     /* body above max_body_bytes */
    HTTPD_PARSE_HEADERS_TOO_LARGE = -431,  /* head (or trailers) too large, too many fields */
    HTTPD_PARSE_NOT_IMPLEMENTED = -501,    /* a transfer coding other than chunked */
    HTTPD_PARSE_VERSION_UNSUPPORTED = -505 /* not HTTP/1.0 or HTTP/1.1 */
};

/*
 * Parse one request at the start of buf[0..len). On HTTPD_PARSE_OK, ret_req points into
 * buf and *ret_consumed is the size of head + body (the next request starts there). On
 * HTTPD_PARSE_HEAD_DONE the head fields of ret_req are valid, body/body_len are not yet,
 * and *ret_consumed is the head size; the caller may use it to answer 100-continue and
 * calls again with more bytes. NEED_MORE is only returned while the head is incomplete
 * and still within the limit. Errors leave *ret_req unspecified.
 * A chunked request (ret_req->chunked) is always HTTPD_PARSE_HEAD_DONE here: its body is
 * decoded by httpd_chunked_decode() from buf + *ret_consumed. Calling this again on the
 * same buffer gives the same head, also after the body was decoded in place.
 */
enum httpd_parse_result httpd_parse_request(const uint8_t *buf, size_t len,
                                            const struct httpd_limits *lim,
                                            struct httpd_request *ret_req, size_t *ret_consumed);

/*
 * Incremental, in-place decoder of a chunked body. Start from a zeroed struct per request
 * and call httpd_chunked_decode() each time more bytes arrived, with body pointing just
 * after the head and len the bytes received since (it may run past the message:
 * pipelined bytes are left alone). Decoded bytes go to body[0..out), overwriting the
 * framing they came from; body[out..in) is dead framing and body[in..len) not read yet.
 * Returns HTTPD_PARSE_NEED_MORE (keep body[0..len), compacted or not, append what
 * arrives and call again), HTTPD_PARSE_OK (the body is body[0..out) and the message
 * ended at body + in), or an error (400, 413 once a chunk would take the decoded size
 * over max_body_bytes, 431 for trailers over HTTPD_MAX_TRAILER_BYTES). The decoder only
 * looks at body[in..len), so one call or many over the same bytes give the same result.
 */
enum httpd_chunk_state {
    HTTPD_CHUNK_SIZE = 0, /* at a chunk-size line */
    HTTPD_CHUNK_DATA,     /* inside chunk data */
    HTTPD_CHUNK_DATA_END, /* at the CRLF after chunk data */
    HTTPD_CHUNK_TRAILER,  /* at a trailer field line or the final CRLF */
    HTTPD_CHUNK_DONE
};

struct httpd_chunked {
    enum httpd_chunk_state state;
    size_t in;            /* encoded bytes read, from body[0] */
    size_t out;           /* decoded bytes, at body[0..out) */
    uint64_t left;        /* data bytes still to come in the current chunk */
    size_t trailer_bytes; /* trailer section read so far */
};

enum httpd_parse_result httpd_chunked_decode(struct httpd_chunked *st, uint8_t *body, size_t len,
                                             size_t max_body_bytes);

/*
 * Drop the dead framing body[out..in) by moving body[in..len) down to body + out, so a
 * connection buffer holds little more than the decoded body; returns the new len (and
 * sets in = out). Optional; valid after any result.
 */
size_t httpd_chunked_compact(struct httpd_chunked *st, uint8_t *body, size_t len);

/* The status code an error result stands for (400, 413, ...); 0 for non-errors. */
int httpd_parse_status(enum httpd_parse_result r);

/* Case-insensitive field lookup: the first field called `name`, or NULL. */
const struct httpd_field *httpd_request_field(const struct httpd_request *req, const char *name);

/* Does `s` equal the NUL-terminated `lit`, byte for byte / ignoring ASCII case? */
bool httpd_str_eq(struct httpd_str s, const char *lit);
bool httpd_str_eq_nocase(struct httpd_str s, const char *lit);

/* Standard reason phrase for a status ("OK", "Bad Gateway"); "Unknown" otherwise. */
const char *httpd_reason(int status);

/* ---- server ---- */

struct httpd;
struct httpd_conn;

/* Counters, read on the loop thread (or racily, for a summary). */
struct httpd_stats {
    uint64_t connections;         /* accepted */
    uint64_t connections_refused; /* over max_connections */
    uint64_t requests;            /* delivered to on_request */
    uint64_t bad_requests;        /* answered with a 4xx/5xx by the server itself */
    uint64_t timeouts;            /* idle or slow connections closed */
};

typedef void (*httpd_request_cb)(struct httpd_conn *conn, const struct httpd_request *req,
                                 void *data);

struct httpd_options {
    struct httpd_limits limits;
    unsigned max_connections;
    uint64_t idle_timeout_ms; /* no complete request for this long: close (0 = default) */
    const char *server_name;  /* "Server" header value; NULL = none */
};

struct httpd_response_header {
    const char *name;
    const char *value;
};

void httpd_options_default(struct httpd_options *o);

/* Create a server on `loop`; nothing is bound yet. o may be NULL (defaults). */
int httpd_create(uv_loop_t *loop, const struct httpd_options *o, httpd_request_cb on_request,
                 void *data, struct httpd **ret);
/* Bind and listen on "host:port" (IPv4 or "[v6]:port"). -EINVAL for a bad address. */
int httpd_listen(struct httpd *s, const char *address);
/* The bound port (useful with port 0), or 0 when not listening. */
int httpd_port(const struct httpd *s);
const struct httpd_stats *httpd_get_stats(const struct httpd *s);
void httpd_close(struct httpd *s, void (*on_closed)(void *data), void *data);

/*
 * Answer the pending request of `conn`. headers may be NULL when n_headers is 0; body
 * may be NULL when body_len is 0. `close` asks to close the connection after the
 * answer even when the request allowed keep-alive.
 */
int httpd_respond(struct httpd_conn *conn, int status, const struct httpd_response_header *headers,
                  size_t n_headers, const uint8_t *body, size_t body_len, bool close);
/* false once the peer closed or the connection failed (the answer will be discarded). */
bool httpd_conn_alive(const struct httpd_conn *conn);
/* The peer's address as "ip:port" (for logs). */
const char *httpd_conn_peer(const struct httpd_conn *conn);

#endif
