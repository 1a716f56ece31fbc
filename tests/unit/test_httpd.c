/*
 * httpd: the request parser's rules (framing, limits, smuggling defences, keep-alive)
 * and the server on a real loop: keep-alive, pipelining, late answers, 100-continue,
 * protocol errors answered and closed, and a clean close with a request pending.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/httpd.h"

static const struct httpd_limits lim = {.max_header_bytes = 1024, .max_body_bytes = 64};

static enum httpd_parse_result parse(const char *text, struct httpd_request *req, size_t *used)
{
    return httpd_parse_request((const uint8_t *)text, strlen(text), &lim, req, used);
}

static void expect(const char *text, enum httpd_parse_result want)
{
    struct httpd_request req;
    size_t used;
    enum httpd_parse_result r = parse(text, &req, &used);
    if (r != want)
        fprintf(stderr, "want %d got %d: %s\n", want, r, text);
    assert_int_equal(r, want);
}

static void test_parse_complete(void **state)
{
    (void)state;
    const char *t = "POST /GetSamplingRules?x=1 HTTP/1.1\r\nHost: 127.0.0.1:2000\r\n"
                    "Content-Type:application/json \r\nContent-Length: 2\r\n\r\n{}NEXT";
    struct httpd_request req;
    size_t used;
    assert_int_equal(parse(t, &req, &used), HTTPD_PARSE_OK);
    assert_int_equal(used, strlen(t) - 4);
    assert_true(httpd_str_eq(req.method, "POST"));
    assert_true(httpd_str_eq(req.target, "/GetSamplingRules?x=1"));
    assert_true(httpd_str_eq(req.path, "/GetSamplingRules"));
    assert_int_equal(req.version_minor, 1);
    assert_int_equal(req.n_fields, 3);
    const struct httpd_field *ct = httpd_request_field(&req, "CONTENT-type");
    assert_non_null(ct);
    assert_true(httpd_str_eq(ct->value, "application/json"));
    assert_int_equal(req.body_len, 2);
    assert_memory_equal(req.body, "{}", 2);
    assert_true(req.keep_alive);
    assert_false(req.expect_continue);
    /* Leading empty lines are skipped. */
    expect("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", HTTPD_PARSE_OK);
    /* No body without Content-Length. */
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n\r\nabc", &req, &used), HTTPD_PARSE_OK);
    assert_int_equal(req.body_len, 0);
}

static void test_parse_incomplete(void **state)
{
    (void)state;
    expect("", HTTPD_PARSE_NEED_MORE);
    expect("POST / HTTP/1.1\r\nHost: x\r\n", HTTPD_PARSE_NEED_MORE);
    struct httpd_request req;
    size_t used;
    const char *t =
        "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\nab";
    assert_int_equal(parse(t, &req, &used), HTTPD_PARSE_HEAD_DONE);
    assert_int_equal(used, strlen(t) - 2);
    assert_true(req.expect_continue);
}

static void test_parse_keep_alive(void **state)
{
    (void)state;
    struct httpd_request req;
    size_t used;
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &req, &used),
                     HTTPD_PARSE_OK);
    assert_false(req.keep_alive);
    assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &req, &used), HTTPD_PARSE_OK);
    assert_false(req.keep_alive);
    assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &req, &used),
                     HTTPD_PARSE_OK);
    assert_true(req.keep_alive);
    assert_int_equal(
        parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: te, close\r\n\r\n", &req, &used),
        HTTPD_PARSE_OK);
    assert_false(req.keep_alive);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n", HTTPD_PARSE_BODY_TOO_LARGE);
    expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 64\r\n\r\n", HTTPD_PARSE_HEAD_DONE);
    expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
           HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1,1\r\n\r\n", HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x1\r\n\r\n", HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1\r\n\r\n", HTTPD_PARSE_BAD_REQUEST); /* no Host */
    expect("POST / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1\r\nHost : x\r\n\r\n", HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1\nHost: x\r\n\r\n", HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1\r\nHost: x\rY\r\n\r\n", HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1\r\nHost: \x01\r\n\r\n", HTTPD_PARSE_BAD_REQUEST);
    expect("POST  / HTTP/1.1\r\nHost: x\r\n\r\n", HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1 \r\nHost: x\r\n\r\n", HTTPD_PARSE_BAD_REQUEST);
    expect("PO(ST / HTTP/1.1\r\nHost: x\r\n\r\n", HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTX/1.1\r\nHost: x\r\n\r\n", HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/2.0\r\nHost: x\r\n\r\n", HTTPD_PARSE_VERSION_UNSUPPORTED);
    expect("POST / HTTP/1.2\r\nHost: x\r\n\r\n", HTTPD_PARSE_VERSION_UNSUPPORTED);
    expect(": x\r\n\r\n", HTTPD_PARSE_BAD_REQUEST);

    /* Head limit: incomplete past it, or too many fields. */
    char big[2048];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "GET /", 5);
    expect(big, HTTPD_PARSE_HEADERS_TOO_LARGE);
    size_t n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < HTTPD_MAX_HEADERS; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "A%d: b\r\n", i);
    snprintf(big + n, sizeof(big) - n, "\r\n");
    expect(big, HTTPD_PARSE_HEADERS_TOO_LARGE);

    assert_int_equal(httpd_parse_status(HTTPD_PARSE_NOT_IMPLEMENTED), 501);
    assert_int_equal(httpd_parse_status(HTTPD_PARSE_OK), 0);
    assert_string_equal(httpd_reason(431), "Request Header Fields Too Large");
}

/* ---- chunked bodies ----------------------------------------------------------------- */

#define CHUNKED_HEAD "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

struct decoded {
    enum httpd_parse_result r;
    uint8_t body[8192];
    size_t body_len;
    size_t msg_len; /* encoded body bytes the message took (OK only) */
};

/* Decode the chunked body of `enc` (CHUNKED_HEAD + body + anything after) in one call. */
static void decode_once(const char *enc, size_t n, size_t max_body, struct decoded *d)
{
    struct httpd_request req;
    size_t used = 0;
    struct httpd_limits l = {.max_header_bytes = 1024, .max_body_bytes = max_body};
    assert_int_equal(httpd_parse_request((const uint8_t *)enc, n, &l, &req, &used),
                     HTTPD_PARSE_HEAD_DONE);
    assert_true(req.chunked);
    assert_true(used <= n);
    memset(d, 0, sizeof(*d));
    assert_true(n - used <= sizeof(d->body));
    memcpy(d->body, enc + used, n - used);
    struct httpd_chunked st = {0};
    d->r = httpd_chunked_decode(&st, d->body, n - used, max_body);
    assert_true(st.out <= st.in && st.in <= n - used);
    if (d->r == HTTPD_PARSE_OK) {
        d->body_len = st.out;
        d->msg_len = st.in;
        /* Calling again once done changes nothing. */
        assert_int_equal(httpd_chunked_decode(&st, d->body, n - used, max_body), HTTPD_PARSE_OK);
        assert_int_equal(st.out, d->body_len);
    }
}

/*
 * Feed the body in pieces: `split` bytes first (0 = one byte at a time throughout),
 * compacting after every call as the server does, and check the result matches the
 * one-shot decoding, bytes and message length included.
 */
static void decode_split(const char *enc, size_t n, size_t max_body, size_t split,
                         const struct decoded *want)
{
    size_t head = strlen(CHUNKED_HEAD);
    const uint8_t *src = (const uint8_t *)enc + head;
    size_t total = n - head;
    uint8_t work[8192];
    size_t len = 0, fed = 0;
    struct httpd_chunked st = {0};
    enum httpd_parse_result r = HTTPD_PARSE_NEED_MORE;
    while (fed < total) {
        size_t step = split ? (fed == 0 ? split : total - fed) : 1;
        if (step == 0)
            step = total - fed;
        memcpy(work + len, src + fed, step);
        len += step;
        fed += step;
        r = httpd_chunked_decode(&st, work, len, max_body);
        len = httpd_chunked_compact(&st, work, len);
        assert_int_equal(st.in, st.out);
        if (r != HTTPD_PARSE_NEED_MORE)
            break;
    }
    if (r != want->r)
        fprintf(stderr, "split %zu: want %d got %d\n", split, want->r, r);
    assert_int_equal(r, want->r);
    if (r == HTTPD_PARSE_OK) {
        assert_int_equal(st.out, want->body_len);
        assert_memory_equal(work, want->body, want->body_len);
        /* What follows the message is untouched, right after the decoded body. */
        size_t rest = len - st.out;
        assert_int_equal(fed - rest, want->msg_len);
        assert_memory_equal(work + st.out, src + want->msg_len, rest);
    }
}

/* One-shot result, then the same at every split point and byte by byte. */
static void check_chunked(const char *body, size_t max_body, enum httpd_parse_result want_r,
                          const char *want_body)
{
    char enc[8192];
    size_t n = (size_t)snprintf(enc, sizeof(enc), "%s%s", CHUNKED_HEAD, body);
    assert_true(n < sizeof(enc));
    struct decoded *d = calloc(1, sizeof(*d));
    decode_once(enc, n, max_body, d);
    if (d->r != want_r)
        fprintf(stderr, "want %d got %d: %s\n", want_r, d->r, body);
    assert_int_equal(d->r, want_r);
    if (want_r == HTTPD_PARSE_OK) {
        assert_int_equal(d->body_len, strlen(want_body));
        assert_memory_equal(d->body, want_body, d->body_len);
    }
    size_t total = n - strlen(CHUNKED_HEAD);
    for (size_t split = 0; split <= total; split++)
        decode_split(enc, n, max_body, split, d);
    free(d);
}

static void test_chunked_bodies(void **state)
{
    (void)state;
    /* One chunk, many chunks, hex case, zero length, what follows is left alone. */
    check_chunked("2\r\n{}\r\n0\r\n\r\n", 64, HTTPD_PARSE_OK, "{}");
    check_chunked("1\r\na\r\n2\r\nbc\r\n3\r\ndef\r\na\r\n0123456789\r\n0\r\n\r\n", 64,
                  HTTPD_PARSE_OK, "abcdef0123456789");
    check_chunked("A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n", 64, HTTPD_PARSE_OK,
                  "0123456789abcdefghijk");
    check_chunked("0\r\n\r\n", 64, HTTPD_PARSE_OK, "");
    check_chunked("000\r\n\r\n", 64, HTTPD_PARSE_OK, "");
    check_chunked("0\r\n\r\n", 0, HTTPD_PARSE_OK, "");
    check_chunked("2\r\n\r\n\r\n0\r\n\r\n", 64, HTTPD_PARSE_OK, "\r\n"); /* data is data */
    check_chunked("3\r\nabc\r\n0\r\n\r\nPOST / HTTP/1.1\r\n", 64, HTTPD_PARSE_OK, "abc");
    check_chunked("0000000000000003\r\nabc\r\n0\r\n\r\n", 64, HTTPD_PARSE_OK, "abc");
    /* Extensions are ignored; BWS before ';'. */
    check_chunked("2;name=val\r\n{}\r\n1 ; a ; b=\"q;\"\r\nx\r\n0;last\r\n\r\n", 64, HTTPD_PARSE_OK,
                  "{}x");
    /* Trailers are read and dropped. */
    check_chunked("2\r\n{}\r\n0\r\nX-Checksum: abc\r\nY:\r\n\r\n", 64, HTTPD_PARSE_OK, "{}");
    /* Exactly the limit, then one over: refused at the size line, before the data. */
    char big[256];
    snprintf(big, sizeof(big), "40\r\n%064d\r\n0\r\n\r\n", 0);
    char want[65];
    snprintf(want, sizeof(want), "%064d", 0);
    check_chunked(big, 64, HTTPD_PARSE_OK, want);
    check_chunked("41\r\n", 64, HTTPD_PARSE_BODY_TOO_LARGE, NULL);
    check_chunked("20\r\n01234567890123456789012345678901\r\n21\r\n", 64,
                  HTTPD_PARSE_BODY_TOO_LARGE, NULL);
    check_chunked("1\r\n", 0, HTTPD_PARSE_BODY_TOO_LARGE, NULL);
    /* Size overflow: the largest 16-digit size is over any limit, never wraps. */
    check_chunked("ffffffffffffffff\r\n", 64, HTTPD_PARSE_BODY_TOO_LARGE, NULL);
    check_chunked("1\r\na\r\nffffffffffffffff\r\n", 64, HTTPD_PARSE_BODY_TOO_LARGE, NULL);
    /* Oversize hex: more than 16 digits, leading zeros included. */
    check_chunked("00000000000000001\r\na\r\n0\r\n\r\n", 64, HTTPD_PARSE_BAD_REQUEST, NULL);
    check_chunked("10000000000000000\r\n", 64, HTTPD_PARSE_BAD_REQUEST, NULL);
    /* Bad size lines. */
    const char *bad[] = {
        "\r\n",
        "g\r\n",
        "-1\r\n",
        " 2\r\n{}\r\n0\r\n\r\n",
        "2 \r\n{}\r\n",
        "0x2\r\n{}\r\n",
        "2;a\x01\r\n",
        "2\n{}\r\n0\r\n\r\n",
        "2\r{}\r\n",
        "2\r\r\n{}\r\n",
        "+2\r\n{}\r\n",
        "2x\r\n{}\r\n",
        /* Missing or wrong CRLF after the data. */
        "2\r\n{}0\r\n\r\n",
        "2\r\n{}\n0\r\n\r\n",
        "2\r\n{}\rx",
        "2\r\n{}}\r\n0\r\n\r\n",
        "2\r\n{}\r\n0\r\n\n",
        "2\r\n{}\r\n0\r\n\rx",
        /* Bad trailers: obs-fold, no colon, space before colon, bare LF, CTL. */
        "0\r\nA: b\r\n c\r\n\r\n",
        "0\r\nBad Trailer\r\n\r\n",
        "0\r\nA : b\r\n\r\n",
        "0\r\nA: b\n\r\n",
        "0\r\nA: \x7f\r\n\r\n",
        "0\r\n: b\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_chunked(bad[i], 64, HTTPD_PARSE_BAD_REQUEST, NULL);
    /* Incomplete: every prefix of a valid body needs more. */
    const char *partial[] = {"",
                             "2",
                             "2\r",
                             "2\r\n",
                             "2\r\n{",
                             "2\r\n{}",
                             "2\r\n{}\r",
                             "2\r\n{}\r\n0\r\n",
                             "2\r\n{}\r\n0\r\nA: b\r\n",
                             "0\r\n\r"};
    for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++)
        check_chunked(partial[i], 64, HTTPD_PARSE_NEED_MORE, NULL);
}

static void test_chunked_limits(void **state)
{
    (void)state;
    static char body[8192];
    /* A chunk-size line: extensions up to the line limit, then one byte more. */
    size_t n = (size_t)snprintf(body, sizeof(body), "1;");
    memset(body + n, 'e', HTTPD_MAX_CHUNK_LINE_BYTES - n);
    n = HTTPD_MAX_CHUNK_LINE_BYTES;
    snprintf(body + n, sizeof(body) - n, "\r\nz\r\n0\r\n\r\n");
    check_chunked(body, 64, HTTPD_PARSE_OK, "z");
    memmove(body + 1, body, strlen(body) + 1);
    body[0] = '1';
    body[1] = ';';
    body[2] = 'e';
    check_chunked(body, 64, HTTPD_PARSE_BAD_REQUEST, NULL);
    /* A long line without its CRLF is refused as soon as it is too long. */
    memset(body, 'e', HTTPD_MAX_CHUNK_LINE_BYTES + 1);
    memcpy(body, "1;", 2);
    body[HTTPD_MAX_CHUNK_LINE_BYTES + 1] = '\0';
    check_chunked(body, 64, HTTPD_PARSE_BAD_REQUEST, NULL);
    body[HTTPD_MAX_CHUNK_LINE_BYTES] = '\0';
    check_chunked(body, 64, HTTPD_PARSE_NEED_MORE, NULL);
    /* Trailers: up to the section limit, and over it (431). */
    n = (size_t)snprintf(body, sizeof(body), "0\r\n");
    size_t trailer = 0;
    while (trailer + 100 <= HTTPD_MAX_TRAILER_BYTES) {
        n += (size_t)snprintf(body + n, sizeof(body) - n, "T%04zu: %091d\r\n", trailer, 0);
        trailer += 100;
    }
    snprintf(body + n, sizeof(body) - n, "\r\n");
    check_chunked(body, 64, HTTPD_PARSE_OK, "");
    /* 40 lines of 100 bytes, then one that ends the section exactly at the limit. */
    snprintf(body + n, sizeof(body) - n, "T: %0*d\r\n\r\n",
             (int)(HTTPD_MAX_TRAILER_BYTES - trailer - 5), 0);
    check_chunked(body, 64, HTTPD_PARSE_OK, "");
    snprintf(body + n, sizeof(body) - n, "T: %0*d\r\n\r\n",
             (int)(HTTPD_MAX_TRAILER_BYTES - trailer), 0);
    check_chunked(body, 64, HTTPD_PARSE_HEADERS_TOO_LARGE, NULL);
    body[n + 20] = '\0'; /* partial, within the limit */
    check_chunked(body, 64, HTTPD_PARSE_NEED_MORE, NULL);
}

static void test_chunked_framing_rules(void **state)
{
    (void)state;
    struct httpd_request req;
    size_t used;
    const char *t = CHUNKED_HEAD "2\r\n{}\r\n0\r\n\r\n";
    assert_int_equal(parse(t, &req, &used), HTTPD_PARSE_HEAD_DONE);
    assert_int_equal(used, strlen(CHUNKED_HEAD));
    assert_true(req.chunked);
    assert_true(req.keep_alive);
    assert_null(req.body);
    /* Content-Length is not chunked. */
    assert_int_equal(parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &req, &used),
                     HTTPD_PARSE_OK);
    assert_false(req.chunked);
    /* Expect: 100-continue with a chunked body. */
    assert_int_equal(parse("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n",
                           &req, &used),
                     HTTPD_PARSE_HEAD_DONE);
    assert_true(req.chunked && req.expect_continue);
    /* Case, whitespace and split field lines: still one chunked, last. */
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:  CHUNKED \r\n\r\n",
           HTTPD_PARSE_HEAD_DONE);
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,chunked,\r\n\r\n",
           HTTPD_PARSE_HEAD_DONE);
    /* Transfer-Encoding with Content-Length, either order: smuggling, 400. */
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n"
           "{}",
           HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
           "{}",
           HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: gzip\r\n\r\n",
           HTTPD_PARSE_BAD_REQUEST);
    /* HTTP/1.0 has no transfer codings. */
    expect("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           HTTPD_PARSE_BAD_REQUEST);
    /* Other codings: not implemented. */
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
           HTTPD_PARSE_NOT_IMPLEMENTED);
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
           HTTPD_PARSE_NOT_IMPLEMENTED);
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
           "Transfer-Encoding: chunked\r\n\r\n",
           HTTPD_PARSE_NOT_IMPLEMENTED);
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunkedx\r\n\r\n",
           HTTPD_PARSE_NOT_IMPLEMENTED);
    /* chunked not last, or twice: the length cannot be known, 400. */
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
           HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           "Transfer-Encoding: identity\r\n\r\n",
           HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
           HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           "Transfer-Encoding: chunked\r\n\r\n",
           HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n", HTTPD_PARSE_BAD_REQUEST);
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\n\r\n", HTTPD_PARSE_BAD_REQUEST);
    assert_string_equal(httpd_reason(501), "Not Implemented");
}

/* ---- the server on a loop, a blocking client on a thread ---------------------------- */

struct fixture {
    uv_loop_t loop;
    struct httpd *server;
    int port;
    uv_async_t done;
    uv_timer_t late;
    struct httpd_conn *held; /* answered later by the timer */
    const struct httpd_request *held_req;
    unsigned requests;
    bool closed;
    char transcript[8192]; /* what the client read */
    size_t transcript_len;
    void (*client)(struct fixture *f);
};

static void answer_echo(struct httpd_conn *conn, const struct httpd_request *req)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "%.*s %.*s %zu", (int)req->method.len, req->method.p,
                     (int)req->target.len, req->target.p, req->body_len);
    const struct httpd_response_header h[] = {{"Content-Type", "text/plain"}};
    assert_int_equal(httpd_respond(conn, 200, h, 1, (const uint8_t *)body, (size_t)n, false), 0);
}

static void on_late(uv_timer_t *t)
{
    struct fixture *f = t->data;
    if (f->held) {
        answer_echo(f->held, f->held_req);
        f->held = NULL;
    }
}

static void on_request(struct httpd_conn *conn, const struct httpd_request *req, void *data)
{
    struct fixture *f = data;
    f->requests++;
    if (httpd_str_eq(req->path, "/echo")) {
        assert_int_equal(httpd_respond(conn, 200, NULL, 0, req->body, req->body_len, false), 0);
        return;
    }
    if (httpd_str_eq(req->path, "/late")) {
        /* Answer from another loop turn: the request stays valid until then. */
        f->held = conn;
        f->held_req = req;
        uv_timer_start(&f->late, on_late, 20, 0);
        return;
    }
    answer_echo(conn, req);
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void send_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(fd, s, n);
        assert_true(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

/* Read until `count` occurrences of `needle` were read, or EOF. */
static void read_until(struct fixture *f, int fd, const char *needle, int count)
{
    for (;;) {
        f->transcript[f->transcript_len] = '\0';
        int seen = 0;
        for (const char *p = f->transcript; (p = strstr(p, needle)); p++)
            seen++;
        if (seen >= count)
            return;
        ssize_t r = read(fd, f->transcript + f->transcript_len,
                         sizeof(f->transcript) - 1 - f->transcript_len);
        if (r <= 0)
            return;
        f->transcript_len += (size_t)r;
    }
}

static void read_to_eof(struct fixture *f, int fd)
{
    read_until(f, fd, "\x01never\x02", 1);
}

static void *client_thread(void *arg)
{
    struct fixture *f = arg;
    f->client(f);
    uv_async_send(&f->done);
    return NULL;
}

static void on_server_closed(void *data)
{
    ((struct fixture *)data)->closed = true;
}

static void on_done(uv_async_t *a)
{
    struct fixture *f = a->data;
    httpd_close(f->server, on_server_closed, f);
    on_late(&f->late); /* a request still held is answered while the server closes */
    uv_close((uv_handle_t *)&f->done, NULL);
    uv_close((uv_handle_t *)&f->late, NULL);
}

static void run_server(struct fixture *f, void (*client)(struct fixture *))
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    struct httpd_options o;
    httpd_options_default(&o);
    o.limits.max_body_bytes = 64;
    assert_int_equal(httpd_create(&f->loop, &o, on_request, f, &f->server), 0);
    assert_int_equal(httpd_listen(f->server, "127.0.0.1:0"), 0);
    f->port = httpd_port(f->server);
    assert_true(f->port > 0);
    uv_async_init(&f->loop, &f->done, on_done);
    f->done.data = f;
    uv_timer_init(&f->loop, &f->late);
    f->late.data = f;
    f->client = client;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, client_thread, f), 0);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    pthread_join(t, NULL);
    assert_true(f->closed);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    f->transcript[f->transcript_len] = '\0';
}

static void client_keep_alive(struct fixture *f)
{
    int fd = connect_to(f->port);
    send_all(fd, "POST /GetSamplingRules HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
    read_until(f, fd, "HTTP/1.1 200", 1);
    /* Two pipelined requests on the same connection, the first answered late. */
    send_all(fd, "POST /late HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                 "POST /SamplingTargets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Content-Length: 0\r\n\r\n");
    read_to_eof(f, fd);
    close(fd);
}

static void test_server_keep_alive_and_pipelining(void **state)
{
    (void)state;
    struct fixture *f = calloc(1, sizeof(*f));
    run_server(f, client_keep_alive);
    assert_int_equal(f->requests, 3);
    const char *a = strstr(f->transcript, "POST /GetSamplingRules 2");
    const char *b = strstr(f->transcript, "POST /late 3");
    const char *c = strstr(f->transcript, "POST /SamplingTargets 0");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_true(a < b && b < c); /* in order */
    assert_non_null(strstr(f->transcript, "Connection: keep-alive"));
    assert_non_null(strstr(f->transcript, "Connection: close"));
    assert_non_null(strstr(f->transcript, "Content-Length: 24\r\n"));
    free(f);
}

static void client_errors(struct fixture *f)
{
    int fd = connect_to(f->port);
    send_all(fd, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n");
    read_to_eof(f, fd); /* answered, then closed */
    close(fd);
    fd = connect_to(f->port);
    send_all(fd, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
    read_to_eof(f, fd);
    close(fd);
    fd = connect_to(f->port);
    send_all(fd, "POST /c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n"
                 "Connection: close\r\n\r\n");
    read_until(f, fd, "HTTP/1.1 100 Continue", 1);
    send_all(fd, "body");
    read_to_eof(f, fd);
    close(fd);
}

static void test_server_errors_and_continue(void **state)
{
    (void)state;
    struct fixture *f = calloc(1, sizeof(*f));
    run_server(f, client_errors);
    assert_int_equal(f->requests, 1);
    assert_non_null(strstr(f->transcript, "HTTP/1.1 501 Not Implemented"));
    assert_non_null(strstr(f->transcript, "HTTP/1.1 413 Content Too Large"));
    const char *cont = strstr(f->transcript, "HTTP/1.1 100 Continue\r\n\r\n");
    assert_non_null(cont);
    assert_non_null(strstr(cont, "POST /c 4"));
    assert_int_equal(httpd_get_stats(f->server) == NULL, false);
    free(f);
}

static void client_chunked(struct fixture *f)
{
    /* A chunked body in small pieces (each one a read), then a pipelined request. */
    int fd = connect_to(f->port);
    const char *pieces[] = {"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n",
                            "\r\n5;ext=1\r",
                            "\nhello\r\n",
                            "1",
                            "\r\n \r\n1e\r\n",
                            "chunked bodies, de-chunked",
                            "!!!!\r\n0\r\nX-Sum: 1\r\n",
                            "\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nend"};
    for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
        send_all(fd, pieces[i]);
        usleep(5 * 1000);
    }
    read_until(f, fd, "HTTP/1.1 200", 2);
    read_until(f, fd, "end", 1);
    /* Over the limit (64): 413 at the size line, before the data is sent. */
    send_all(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "30\r\n012345678901234567890123456789012345678901234567\r\n11\r\n");
    read_to_eof(f, fd);
    close(fd);
    /* 100-continue with a chunked body. */
    fd = connect_to(f->port);
    send_all(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                 "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    read_until(f, fd, "HTTP/1.1 100 Continue", 1);
    send_all(fd, "4\r\nbody\r\n0\r\n\r\n");
    read_to_eof(f, fd);
    close(fd);
}

static void test_server_chunked(void **state)
{
    (void)state;
    struct fixture *f = calloc(1, sizeof(*f));
    run_server(f, client_chunked);
    assert_int_equal(f->requests, 3);
    const char *a = strstr(f->transcript, "Content-Length: 36\r\n");
    assert_non_null(a);
    const char *b = strstr(a, "\r\n\r\nhello chunked bodies, de-chunked!!!!");
    assert_non_null(b);
    const char *c = strstr(b, "Content-Length: 3\r\n");
    assert_non_null(c);
    assert_non_null(strstr(c, "\r\n\r\nend"));
    const char *d = strstr(c, "HTTP/1.1 413 Content Too Large");
    assert_non_null(d);
    const char *e = strstr(d, "HTTP/1.1 100 Continue\r\n\r\n");
    assert_non_null(e);
    assert_non_null(strstr(e, "\r\n\r\nbody"));
    assert_int_equal(httpd_get_stats(f->server) == NULL, false);
    free(f);
}

static void client_leaves_pending(struct fixture *f)
{
    int fd = connect_to(f->port);
    send_all(fd, "POST /late HTTP/1.1\r\nHost: x\r\n\r\n");
    close(fd); /* gone before the answer */
    usleep(50 * 1000);
}

static void test_server_peer_gone_before_answer(void **state)
{
    (void)state;
    struct fixture *f = calloc(1, sizeof(*f));
    /* The late answer finds a dead connection; it must still be accepted and freed, and
     * the server must close cleanly (ASan checks the memory). */
    run_server(f, client_leaves_pending);
    assert_int_equal(f->requests, 1);
    free(f);
}

static void on_flag(void *data)
{
    *(bool *)data = true;
}

static void test_listen_errors(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct httpd *s = NULL;
    assert_int_equal(httpd_create(&loop, NULL, on_request, NULL, &s), 0);
    assert_int_equal(httpd_listen(s, "nonsense"), -EINVAL);
    assert_int_equal(httpd_listen(s, "127.0.0.1:99999"), -EINVAL);
    assert_int_equal(httpd_listen(s, "[::1]"), -EINVAL);
    bool closed = false;
    httpd_close(s, on_flag, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(closed);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_complete),
        cmocka_unit_test(test_parse_incomplete),
        cmocka_unit_test(test_parse_keep_alive),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_chunked_bodies),
        cmocka_unit_test(test_chunked_limits),
        cmocka_unit_test(test_chunked_framing_rules),
        cmocka_unit_test(test_server_keep_alive_and_pipelining),
        cmocka_unit_test(test_server_errors_and_continue),
        cmocka_unit_test(test_server_chunked),
        cmocka_unit_test(test_server_peer_gone_before_answer),
        cmocka_unit_test(test_listen_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
