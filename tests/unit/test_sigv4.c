/*
 * Unit tests for exporters/sigv4: every case of the aws-c-auth SigV4 test suite
 * (tests/data/sigv4/v4, header and query signing, each its own cmocka test), vectors
 * produced with botocore, and the argument checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "exporters/sigv4.h"

#define VECTOR_DIR       OSPREY_TEST_DATA "/sigv4/v4"
#define MAX_TEST_HEADERS 32

#define EXAMPLE_AKID   "AKIDEXAMPLE"
#define EXAMPLE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
/* 2015-08-30T12:36:00Z, the suite's timestamp. */
#define EXAMPLE_EPOCH INT64_C(1440938160)

/* Every case directory of the suite; a missing directory fails its two tests, and an
 * extra directory fails test_vector_dir_complete. */
#define SIGV4_CASES(X)                                                                             \
    X("get-header-key-duplicate")                                                                  \
    X("get-header-value-multiline")                                                                \
    X("get-header-value-order")                                                                    \
    X("get-header-value-trim")                                                                     \
    X("get-relative-normalized")                                                                   \
    X("get-relative-relative-normalized")                                                          \
    X("get-relative-relative-unnormalized")                                                        \
    X("get-relative-unnormalized")                                                                 \
    X("get-slash-dot-slash-normalized")                                                            \
    X("get-slash-dot-slash-unnormalized")                                                          \
    X("get-slash-normalized")                                                                      \
    X("get-slash-pointless-dot-normalized")                                                        \
    X("get-slash-pointless-dot-unnormalized")                                                      \
    X("get-slash-unnormalized")                                                                    \
    X("get-slashes-normalized")                                                                    \
    X("get-slashes-unnormalized")                                                                  \
    X("get-space-normalized")                                                                      \
    X("get-space-unnormalized")                                                                    \
    X("get-unreserved")                                                                            \
    X("get-utf8")                                                                                  \
    X("get-vanilla")                                                                               \
    X("get-vanilla-empty-query-key")                                                               \
    X("get-vanilla-query")                                                                         \
    X("get-vanilla-query-order-encoded")                                                           \
    X("get-vanilla-query-order-key-case")                                                          \
    X("get-vanilla-query-unreserved")                                                              \
    X("get-vanilla-utf8-query")                                                                    \
    X("get-vanilla-with-session-token")                                                            \
    X("post-header-key-case")                                                                      \
    X("post-header-key-sort")                                                                      \
    X("post-header-value-case")                                                                    \
    X("post-sts-header-after")                                                                     \
    X("post-sts-header-before")                                                                    \
    X("post-vanilla")                                                                              \
    X("post-vanilla-empty-query-value")                                                            \
    X("post-vanilla-query")                                                                        \
    X("post-x-www-form-urlencoded")                                                                \
    X("post-x-www-form-urlencoded-parameters")

#define CASE_NAME(dir) dir,
static const char *const case_names[] = {SIGV4_CASES(CASE_NAME)};
#define N_CASES (sizeof(case_names) / sizeof(case_names[0]))

/* ---- helpers ---- */

static char *read_whole(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_error("cannot open '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    size_t len = 0, cap = 4096;
    char *data = malloc(cap);
    assert_non_null(data);
    for (;;) {
        size_t n = fread(data + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (cap - len - 1 == 0) {
            cap *= 2;
            data = realloc(data, cap);
            assert_non_null(data);
        }
    }
    fclose(f);
    data[len] = '\0';
    if (ret_len)
        *ret_len = len;
    return data;
}

static char *read_case_file(const char *dir, const char *file)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s/%s", VECTOR_DIR, dir, file);
    char *s = read_whole(path, NULL);
    if (!s)
        fail_msg("case '%s': missing %s", dir, file);
    return s;
}

static char *xstrndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    assert_non_null(d);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void strip_trailing_space(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
}

static bool secret_absent(const char *s, const char *secret)
{
    return !s || strstr(s, secret) == NULL;
}

static void assert_no_secret(const struct sigv4_result *r, const char *secret)
{
    assert_true(secret_absent(r->authorization, secret));
    assert_true(secret_absent(r->security_token, secret));
    assert_true(secret_absent(r->presigned_query, secret));
    assert_true(secret_absent(r->signed_headers, secret));
    assert_true(secret_absent(r->canonical_request, secret));
    assert_true(secret_absent(r->string_to_sign, secret));
    assert_true(secret_absent(r->signature, secret));
    assert_true(secret_absent(r->payload_hash, secret));
}

/* ---- request.txt: raw HTTP request ---- */

struct raw_request {
    char *method;
    char *path;
    char *query; /* NULL when the target has no '?' */
    struct sigv4_header headers[MAX_TEST_HEADERS];
    char *names[MAX_TEST_HEADERS];
    char *values[MAX_TEST_HEADERS];
    size_t n_headers;
    char *body;
    size_t body_len;
};

static void raw_request_release(struct raw_request *rq)
{
    free(rq->method);
    free(rq->path);
    free(rq->query);
    for (size_t i = 0; i < rq->n_headers; i++) {
        free(rq->names[i]);
        free(rq->values[i]);
    }
    free(rq->body);
    memset(rq, 0, sizeof(*rq));
}

/*
 * "METHOD target HTTP/1.1" (the target may contain spaces), then "Name:value" lines,
 * where a line starting with whitespace continues the previous value (kept with its
 * newline, the signer folds it), then an empty line and the body.
 */
static void parse_request(const char *text, size_t len, struct raw_request *rq)
{
    const char *end = text + len;
    const char *line = text;
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    assert_non_null(eol);

    const char *sp1 = memchr(line, ' ', (size_t)(eol - line));
    assert_non_null(sp1);
    const char *sp2 = eol;
    while (sp2 > sp1 && *sp2 != ' ')
        sp2--;
    assert_true(sp2 > sp1);
    rq->method = xstrndup(line, (size_t)(sp1 - line));
    const char *target = sp1 + 1;
    const char *q = memchr(target, '?', (size_t)(sp2 - target));
    if (q) {
        rq->path = xstrndup(target, (size_t)(q - target));
        rq->query = xstrndup(q + 1, (size_t)(sp2 - q - 1));
    } else {
        rq->path = xstrndup(target, (size_t)(sp2 - target));
    }

    line = eol + 1;
    while (line < end) {
        eol = memchr(line, '\n', (size_t)(end - line));
        const char *stop = eol ? eol : end;
        size_t n = (size_t)(stop - line);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0) {
            line = eol ? eol + 1 : end;
            rq->body = xstrndup(line, (size_t)(end - line));
            rq->body_len = (size_t)(end - line);
            break;
        }
        if (line[0] == ' ' || line[0] == '\t') {
            assert_true(rq->n_headers > 0);
            char **v = &rq->values[rq->n_headers - 1];
            size_t old = strlen(*v);
            *v = realloc(*v, old + 1 + n + 1);
            assert_non_null(*v);
            (*v)[old] = '\n';
            memcpy(*v + old + 1, line, n);
            (*v)[old + 1 + n] = '\0';
        } else {
            const char *colon = memchr(line, ':', n);
            assert_non_null(colon);
            assert_true(rq->n_headers < MAX_TEST_HEADERS);
            rq->names[rq->n_headers] = xstrndup(line, (size_t)(colon - line));
            rq->values[rq->n_headers] = xstrndup(colon + 1, (size_t)(line + n - colon - 1));
            rq->n_headers++;
        }
        line = eol ? eol + 1 : end;
    }
    for (size_t i = 0; i < rq->n_headers; i++) {
        rq->headers[i].name = rq->names[i];
        rq->headers[i].value = rq->values[i];
    }
}

/* ---- context.json ---- */

struct vector_context {
    char *akid;
    char *secret;
    char *token; /* NULL when absent */
    char *region;
    char *service;
    int64_t epoch;
    bool normalize;
    bool sign_body;
    bool omit_session_token;
    uint32_t expires;
};

static char *json_str_dup(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? xstrndup(s, strlen(s)) : NULL;
}

static void load_context(const char *dir, struct vector_context *ctx)
{
    char path[1024];
    json_error_t err;
    snprintf(path, sizeof(path), "%s/%s/context.json", VECTOR_DIR, dir);
    json_t *root = json_load_file(path, 0, &err);
    if (!root)
        fail_msg("case '%s': context.json: %s (line %d)", dir, err.text, err.line);
    json_t *creds = json_object_get(root, "credentials");
    assert_non_null(creds);
    ctx->akid = json_str_dup(creds, "access_key_id");
    ctx->secret = json_str_dup(creds, "secret_access_key");
    ctx->token = json_str_dup(creds, "token");
    ctx->region = json_str_dup(root, "region");
    ctx->service = json_str_dup(root, "service");
    assert_non_null(ctx->akid);
    assert_non_null(ctx->secret);
    assert_non_null(ctx->region);
    assert_non_null(ctx->service);
    ctx->normalize = json_is_true(json_object_get(root, "normalize"));
    ctx->sign_body = json_is_true(json_object_get(root, "sign_body"));
    ctx->omit_session_token = json_is_true(json_object_get(root, "omit_session_token"));
    ctx->expires = (uint32_t)json_integer_value(json_object_get(root, "expiration_in_seconds"));

    const char *ts = json_string_value(json_object_get(root, "timestamp"));
    assert_non_null(ts);
    struct tm tm = {0};
    assert_int_equal(sscanf(ts, "%d-%d-%dT%d:%d:%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
                     6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    ctx->epoch = (int64_t)timegm(&tm);
    json_decref(root);
}

static void vector_context_release(struct vector_context *ctx)
{
    free(ctx->akid);
    free(ctx->secret);
    free(ctx->token);
    free(ctx->region);
    free(ctx->service);
    memset(ctx, 0, sizeof(*ctx));
}

/* Value of the first "Name:value" line of a signed request, matched case-insensitively. */
static char *find_header(const char *text, const char *name)
{
    size_t nlen = strlen(name);
    const char *line = strchr(text, '\n');
    while (line && line[1] != '\0' && line[1] != '\n') {
        line++;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            const char *e = strchr(v, '\n');
            return xstrndup(v, e ? (size_t)(e - v) : strlen(v));
        }
        line = strchr(line, '\n');
    }
    return NULL;
}

/* ---- the suite ---- */

struct loaded_case {
    struct raw_request rq;
    struct vector_context ctx;
    struct sigv4_request req;
    struct sigv4_credentials creds;
};

static void load_case(const char *dir, struct loaded_case *lc)
{
    size_t len;
    char path[1024];
    memset(lc, 0, sizeof(*lc));
    snprintf(path, sizeof(path), "%s/%s/request.txt", VECTOR_DIR, dir);
    char *text = read_whole(path, &len);
    if (!text)
        fail_msg("case '%s': missing request.txt", dir);
    parse_request(text, len, &lc->rq);
    free(text);
    load_context(dir, &lc->ctx);

    lc->req.method = lc->rq.method;
    lc->req.path = lc->rq.path;
    lc->req.query = lc->rq.query;
    lc->req.headers = lc->rq.headers;
    lc->req.header_count = lc->rq.n_headers;
    lc->req.body = lc->rq.body;
    lc->req.body_len = lc->rq.body_len;
    lc->req.expires_seconds = lc->ctx.expires;
    lc->creds.access_key_id = lc->ctx.akid;
    lc->creds.secret_access_key = lc->ctx.secret;
    lc->creds.session_token = lc->ctx.token;
}

static void loaded_case_release(struct loaded_case *lc)
{
    raw_request_release(&lc->rq);
    vector_context_release(&lc->ctx);
}

static unsigned case_flags(const struct vector_context *ctx)
{
    unsigned flags = 0;
    if (ctx->normalize)
        flags |= SIGV4_NORMALIZE_PATH | SIGV4_DOUBLE_ENCODE_PATH;
    if (!ctx->omit_session_token)
        flags |= SIGV4_SIGN_SESSION_TOKEN;
    return flags;
}

static void check_string(const char *dir, const char *what, const char *got, const char *expected)
{
    if (strcmp(got, expected) != 0) {
        print_error("case '%s': %s differs\n--- expected\n%s\n--- got\n%s\n", dir, what, expected,
                    got);
        fail_msg("case '%s': %s mismatch", dir, what);
    }
}

static void test_vector_header(void **state)
{
    const char *dir = *state;
    struct loaded_case lc;
    struct sigv4_result res = {0};
    load_case(dir, &lc);

    unsigned flags = case_flags(&lc.ctx);
    if (lc.ctx.sign_body)
        flags |= SIGV4_ADD_CONTENT_SHA256;
    int r =
        sigv4_sign(&lc.req, &lc.creds, lc.ctx.region, lc.ctx.service, lc.ctx.epoch, flags, &res);
    if (r != 0)
        fail_msg("case '%s': sigv4_sign returned %d", dir, r);

    char *creq = read_case_file(dir, "header-canonical-request.txt");
    char *sts = read_case_file(dir, "header-string-to-sign.txt");
    char *sig = read_case_file(dir, "header-signature.txt");
    char *signed_req = read_case_file(dir, "header-signed-request.txt");
    strip_trailing_space(sig);

    check_string(dir, "canonical request", res.canonical_request, creq);
    check_string(dir, "string to sign", res.string_to_sign, sts);
    check_string(dir, "signature", res.signature, sig);

    char *auth = find_header(signed_req, "Authorization");
    char *date = find_header(signed_req, "X-Amz-Date");
    char *token = find_header(signed_req, "X-Amz-Security-Token");
    char *sha = find_header(signed_req, "X-Amz-Content-Sha256");
    assert_non_null(auth);
    assert_non_null(date);
    check_string(dir, "Authorization", res.authorization, auth);
    check_string(dir, "X-Amz-Date", res.amz_date, date);
    if (lc.ctx.token) {
        assert_non_null(token);
        assert_non_null(res.security_token);
        check_string(dir, "X-Amz-Security-Token", res.security_token, token);
    } else {
        assert_null(token);
        assert_null(res.security_token);
    }
    if (lc.ctx.sign_body) {
        assert_non_null(sha);
        check_string(dir, "X-Amz-Content-Sha256", res.payload_hash, sha);
    }
    assert_null(res.presigned_query);
    assert_no_secret(&res, lc.ctx.secret);

    free(auth);
    free(date);
    free(token);
    free(sha);
    free(creq);
    free(sts);
    free(sig);
    free(signed_req);
    sigv4_result_release(&res);
    loaded_case_release(&lc);
}

static void test_vector_query(void **state)
{
    const char *dir = *state;
    struct loaded_case lc;
    struct sigv4_result res = {0};
    load_case(dir, &lc);

    unsigned flags = case_flags(&lc.ctx) | SIGV4_PRESIGN;
    int r =
        sigv4_sign(&lc.req, &lc.creds, lc.ctx.region, lc.ctx.service, lc.ctx.epoch, flags, &res);
    if (r != 0)
        fail_msg("case '%s': sigv4_sign (presign) returned %d", dir, r);

    char *creq = read_case_file(dir, "query-canonical-request.txt");
    char *sts = read_case_file(dir, "query-string-to-sign.txt");
    char *sig = read_case_file(dir, "query-signature.txt");
    char *signed_req = read_case_file(dir, "query-signed-request.txt");
    strip_trailing_space(sig);

    check_string(dir, "query canonical request", res.canonical_request, creq);
    check_string(dir, "query string to sign", res.string_to_sign, sts);
    check_string(dir, "query signature", res.signature, sig);

    /* Request line: METHOD path?[query&]presigned HTTP/1.1 */
    size_t need = strlen(lc.rq.method) + strlen(lc.rq.path) + strlen(res.presigned_query) +
                  (lc.rq.query ? strlen(lc.rq.query) : 0) + 32;
    char *line = malloc(need);
    assert_non_null(line);
    snprintf(line, need, "%s %s?%s%s%s HTTP/1.1\n", lc.rq.method, lc.rq.path,
             lc.rq.query ? lc.rq.query : "", (lc.rq.query && *lc.rq.query) ? "&" : "",
             res.presigned_query);
    const char *eol = strchr(signed_req, '\n');
    assert_non_null(eol);
    char *expected_line = xstrndup(signed_req, (size_t)(eol - signed_req + 1));
    check_string(dir, "presigned request line", line, expected_line);
    assert_null(res.authorization);
    assert_null(res.security_token);
    assert_no_secret(&res, lc.ctx.secret);

    free(line);
    free(expected_line);
    free(creq);
    free(sts);
    free(sig);
    free(signed_req);
    sigv4_result_release(&res);
    loaded_case_release(&lc);
}

/* The data directory holds exactly the cases listed above. */
static void test_vector_dir_complete(void **state)
{
    (void)state;
    DIR *d = opendir(VECTOR_DIR);
    if (!d)
        fail_msg("cannot open '%s'", VECTOR_DIR);
    size_t found = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        bool known = false;
        for (size_t i = 0; i < N_CASES; i++)
            known = known || strcmp(de->d_name, case_names[i]) == 0;
        if (!known)
            fail_msg("vector directory '%s' has no test", de->d_name);
        found++;
    }
    closedir(d);
    assert_int_equal(found, N_CASES);
    assert_int_equal(N_CASES, 38);
}

/* ---- targeted tests ---- */

static const struct sigv4_header vanilla_headers[] = {{"Host", "example.amazonaws.com"}};

static struct sigv4_request vanilla_request(void)
{
    struct sigv4_request req = {
        .method = "GET",
        .path = "/",
        .headers = vanilla_headers,
        .header_count = 1,
    };
    return req;
}

static void test_wrong_secret(void **state)
{
    (void)state;
    struct sigv4_request req = vanilla_request();
    struct sigv4_credentials good = {EXAMPLE_AKID, EXAMPLE_SECRET, NULL};
    struct sigv4_credentials bad = {EXAMPLE_AKID, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ", NULL};
    struct sigv4_result a = {0}, b = {0};

    assert_int_equal(
        sigv4_sign(&req, &good, "us-east-1", "service", EXAMPLE_EPOCH, SIGV4_FLAGS_DEFAULT, &a), 0);
    assert_int_equal(
        sigv4_sign(&req, &bad, "us-east-1", "service", EXAMPLE_EPOCH, SIGV4_FLAGS_DEFAULT, &b), 0);
    assert_string_equal(a.signature,
                        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    assert_string_equal(a.canonical_request, b.canonical_request);
    assert_string_equal(a.string_to_sign, b.string_to_sign);
    assert_string_not_equal(a.signature, b.signature);
    assert_string_not_equal(a.authorization, b.authorization);
    assert_no_secret(&b, bad.secret_access_key);

    /* Other inputs of the key derivation change the signature too. */
    struct sigv4_result c = {0};
    assert_int_equal(
        sigv4_sign(&req, &good, "us-east-2", "service", EXAMPLE_EPOCH, SIGV4_FLAGS_DEFAULT, &c), 0);
    assert_string_not_equal(a.signature, c.signature);
    sigv4_result_release(&c);
    assert_int_equal(
        sigv4_sign(&req, &good, "us-east-1", "service", EXAMPLE_EPOCH + 1, SIGV4_FLAGS_DEFAULT, &c),
        0);
    assert_string_not_equal(a.signature, c.signature);
    assert_string_equal(c.amz_date, "20150830T123601Z");

    sigv4_result_release(&a);
    sigv4_result_release(&b);
    sigv4_result_release(&c);
}

/* X-Ray PutTraceSegments with a session token, checked against botocore 1.43 SigV4Auth
 * (User-Agent is sent but never signed). */
static void test_session_token_botocore(void **state)
{
    (void)state;
    static const char body[] = "{\"TraceSegmentDocuments\":[\"{\\\"name\\\":\\\"svc\\\"}\"]}";
    const struct sigv4_header headers[] = {
        {"Content-Type", "application/json"},
        {"User-Agent", "osprey/0.1"},
        {"Host", "xray.us-west-2.amazonaws.com"},
    };
    struct sigv4_request req = {
        .method = "POST",
        .path = "/TraceSegments",
        .headers = headers,
        .header_count = 3,
        .body = body,
        .body_len = strlen(body),
    };
    struct sigv4_credentials creds = {EXAMPLE_AKID, EXAMPLE_SECRET, "FQoGZXIvYXdzEXAMPLETOKEN/+="};
    struct sigv4_result res = {0};
    /* 2024-05-17T09:30:05Z */
    assert_int_equal(
        sigv4_sign(&req, &creds, "us-west-2", "xray", 1715938205, SIGV4_FLAGS_DEFAULT, &res), 0);
    assert_string_equal(res.canonical_request,
                        "POST\n/TraceSegments\n\n"
                        "content-type:application/json\n"
                        "host:xray.us-west-2.amazonaws.com\n"
                        "x-amz-date:20240517T093005Z\n"
                        "x-amz-security-token:FQoGZXIvYXdzEXAMPLETOKEN/+=\n\n"
                        "content-type;host;x-amz-date;x-amz-security-token\n"
                        "aa9f1ed3ec1361c37e39420591f8967e909c5732fd441ba85f5a10e540fdc7a1");
    assert_string_equal(res.string_to_sign,
                        "AWS4-HMAC-SHA256\n20240517T093005Z\n20240517/us-west-2/xray/aws4_request\n"
                        "9324c93c7a1ea3de1d38ef4a16bc2800be8bb13a2493511ae84bfbf2340bf2bc");
    assert_string_equal(res.authorization,
                        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240517/us-west-2/xray/"
                        "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-"
                        "token, Signature=f290081041612e8c2bcfc959ee758085c098a97b681249510b57e63f"
                        "572febf2");
    assert_string_equal(res.security_token, "FQoGZXIvYXdzEXAMPLETOKEN/+=");
    assert_string_equal(res.signed_headers, "content-type;host;x-amz-date;x-amz-security-token");
    assert_string_equal(res.amz_date, "20240517T093005Z");
    assert_no_secret(&res, EXAMPLE_SECRET);
    sigv4_result_release(&res);

    /* Token added after signing: still returned, not signed. */
    assert_int_equal(sigv4_sign(&req, &creds, "us-west-2", "xray", 1715938205,
                                SIGV4_FLAGS_DEFAULT & ~(unsigned)SIGV4_SIGN_SESSION_TOKEN, &res),
                     0);
    assert_string_equal(res.security_token, "FQoGZXIvYXdzEXAMPLETOKEN/+=");
    assert_string_equal(res.signed_headers, "content-type;host;x-amz-date");
    assert_null(strstr(res.canonical_request, "x-amz-security-token"));
    sigv4_result_release(&res);

    /* An empty token is no token. */
    creds.session_token = "";
    assert_int_equal(
        sigv4_sign(&req, &creds, "us-west-2", "xray", 1715938205, SIGV4_FLAGS_DEFAULT, &res), 0);
    assert_null(res.security_token);
    assert_string_equal(res.signed_headers, "content-type;host;x-amz-date");
    sigv4_result_release(&res);
}

/* Double encoding, normalisation, query canonicalisation and header folding, checked
 * against botocore 1.43 SigV4Auth. */
static void test_canonical_botocore(void **state)
{
    (void)state;
    const struct sigv4_header headers[] = {
        {"Host", "example.amazonaws.com"},
        {"X-Custom", "  x \t y  "},
    };
    struct sigv4_request req = {
        .method = "GET",
        .path = "/a%20b/./c//d%2Fe",
        .query = "b=2&a=~&a=1",
        .headers = headers,
        .header_count = 2,
    };
    struct sigv4_credentials creds = {EXAMPLE_AKID, EXAMPLE_SECRET, NULL};
    struct sigv4_result res = {0};
    assert_int_equal(
        sigv4_sign(&req, &creds, "eu-central-1", "svc", 1715938205, SIGV4_FLAGS_DEFAULT, &res), 0);
    assert_string_equal(res.canonical_request,
                        "GET\n/a%2520b/c/d%252Fe\na=1&a=~&b=2\n"
                        "host:example.amazonaws.com\nx-amz-date:20240517T093005Z\nx-custom:x y\n\n"
                        "host;x-amz-date;x-custom\n" SIGV4_EMPTY_PAYLOAD_SHA256);
    assert_string_equal(res.authorization,
                        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240517/eu-central-1/svc/"
                        "aws4_request, SignedHeaders=host;x-amz-date;x-custom, Signature="
                        "09a125417eda16250b31b255b2ab8a60a64dbc58c118575521550db5735cc1ff");
    sigv4_result_release(&res);
}

static void sign_ok(const struct sigv4_request *req, unsigned flags, struct sigv4_result *res)
{
    struct sigv4_credentials creds = {EXAMPLE_AKID, EXAMPLE_SECRET, NULL};
    int r = sigv4_sign(req, &creds, "us-east-1", "service", EXAMPLE_EPOCH, flags, res);
    assert_int_equal(r, 0);
}

/* Second line of the canonical request. */
static char *canonical_uri(const char *path, unsigned flags)
{
    struct sigv4_request req = vanilla_request();
    struct sigv4_result res = {0};
    req.path = path;
    sign_ok(&req, flags, &res);
    const char *s = strchr(res.canonical_request, '\n') + 1;
    char *uri = xstrndup(s, (size_t)(strchr(s, '\n') - s));
    sigv4_result_release(&res);
    return uri;
}

static void check_uri(const char *path, unsigned flags, const char *expected)
{
    char *uri = canonical_uri(path, flags);
    if (strcmp(uri, expected) != 0)
        fail_msg("path '%s' flags %#x: got '%s', expected '%s'", path ? path : "(null)", flags, uri,
                 expected);
    free(uri);
}

static void test_canonical_path(void **state)
{
    (void)state;
    const unsigned def = SIGV4_FLAGS_DEFAULT, s3 = SIGV4_FLAGS_S3;
    check_uri(NULL, def, "/");
    check_uri("", def, "/");
    check_uri("", s3, "/");
    check_uri("/", def, "/");
    check_uri("/TraceSegments", def, "/TraceSegments");
    check_uri("/a/b/..", def, "/a");
    check_uri("/a/b/../", def, "/a/");
    check_uri("/a/./b/.", def, "/a/b");
    check_uri("/../..", def, "/");
    check_uri("a/b", def, "/a/b");
    check_uri("a/b", s3, "/a/b");
    /* Non-S3: the wire path is encoded once more. */
    check_uri("/a%20b", def, "/a%2520b");
    check_uri("/a b+c", def, "/a%20b%2Bc");
    check_uri("/%", def, "/%25");
    /* S3: single encoding; escapes are normalised, raw bytes encoded. */
    check_uri("/a%20b", s3, "/a%20b");
    check_uri("/a%2fb", s3, "/a%2Fb");
    check_uri("/%41%7e", s3, "/A~");
    check_uri("/a b+c", s3, "/a%20b%2Bc");
    check_uri("/100%", s3, "/100%25");
    check_uri("/%zz", s3, "/%25zz");
    check_uri("//a/../b//", s3, "//a/../b//");
    check_uri("/\xe1\x88\xb4", s3, "/%E1%88%B4");
}

/* Third line of the canonical request. */
static void check_query(const char *query, const char *expected)
{
    struct sigv4_request req = vanilla_request();
    struct sigv4_result res = {0};
    req.query = query;
    sign_ok(&req, SIGV4_FLAGS_DEFAULT, &res);
    const char *s = strchr(strchr(res.canonical_request, '\n') + 1, '\n') + 1;
    char *got = xstrndup(s, (size_t)(strchr(s, '\n') - s));
    if (strcmp(got, expected) != 0)
        fail_msg("query '%s': got '%s', expected '%s'", query, got, expected);
    free(got);
    sigv4_result_release(&res);
}

static void test_canonical_query(void **state)
{
    (void)state;
    check_query(NULL, "");
    check_query("", "");
    check_query("&&", "");
    check_query("a", "a=");
    check_query("=x", "=x");
    check_query("b=2&a=3&a=1&c", "a=1&a=3&b=2&c=");
    check_query("sp ace=+%2b", "sp%20ace=%2B%2B");
    check_query("k=a=b", "k=a%3Db");
    check_query("k=%7E%7e~", "k=~~~");
    check_query("k=%zz%4", "k=%25zz%254");
    check_query("Action=PutMetricData&Version=2010-08-01",
                "Action=PutMetricData&Version=2010-08-01");
    /* Sorting is by encoded bytes: upper case before lower case, '%' first. */
    check_query("b=1&B=2&%C3%A9=3&_=4", "%C3%A9=3&B=2&_=4&b=1");
}

static void test_canonical_headers(void **state)
{
    (void)state;
    const struct sigv4_header headers[] = {
        {"My-Header", "one"},
        {"host", "example.amazonaws.com"},
        {"Content-Type", "application/x-amz-json-1.1"},
        {"my-header", " two\r\n\t three "},
        {"User-Agent", "osprey"},
        {"X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793"},
        {"Connection", "keep-alive"},
        {"X-Empty", "   "},
        {"X-Amz-Target", "Logs_20140328.PutLogEvents"},
        {"MY-HEADER", "three"},
    };
    struct sigv4_request req = vanilla_request();
    struct sigv4_result res = {0};
    req.headers = headers;
    req.header_count = sizeof(headers) / sizeof(headers[0]);
    sign_ok(&req, SIGV4_FLAGS_DEFAULT, &res);
    assert_string_equal(
        res.canonical_request,
        "GET\n/\n\n"
        "content-type:application/x-amz-json-1.1\n"
        "host:example.amazonaws.com\n"
        "my-header:one,two three,three\n"
        "x-amz-date:20150830T123600Z\n"
        "x-amz-target:Logs_20140328.PutLogEvents\n"
        "x-empty:\n\n"
        "content-type;host;my-header;x-amz-date;x-amz-target;x-empty\n" SIGV4_EMPTY_PAYLOAD_SHA256);
    assert_string_equal(res.signed_headers,
                        "content-type;host;my-header;x-amz-date;x-amz-target;x-empty");
    sigv4_result_release(&res);
}

static void test_payload(void **state)
{
    (void)state;
    struct sigv4_request req = vanilla_request();
    struct sigv4_result res = {0};

    /* Precomputed marker, with the S3 header. */
    req.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
    sign_ok(&req, SIGV4_FLAGS_S3, &res);
    assert_string_equal(res.payload_hash, SIGV4_UNSIGNED_PAYLOAD);
    assert_non_null(strstr(res.canonical_request, "\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"));
    size_t creq_len = strlen(res.canonical_request);
    assert_true(creq_len > 17);
    assert_string_equal(res.canonical_request + creq_len - 17, "\nUNSIGNED-PAYLOAD");
    assert_string_equal(res.signed_headers, "host;x-amz-content-sha256;x-amz-date");
    sigv4_result_release(&res);

    /* Body hashed; NULL body with length 0 is the empty payload. */
    req.payload_hash = NULL;
    req.body = "Param1=value1";
    req.body_len = 13;
    sign_ok(&req, SIGV4_FLAGS_DEFAULT, &res);
    assert_string_equal(res.payload_hash,
                        "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
    sigv4_result_release(&res);
    req.body = NULL;
    req.body_len = 0;
    sign_ok(&req, SIGV4_FLAGS_DEFAULT, &res);
    assert_string_equal(res.payload_hash, SIGV4_EMPTY_PAYLOAD_SHA256);
    sigv4_result_release(&res);

    /* Binary body with NUL bytes is hashed over its length. */
    static const unsigned char bin[] = {0x1f, 0x8b, 0x00, 0x00, 0xff};
    req.body = bin;
    req.body_len = sizeof(bin);
    sign_ok(&req, SIGV4_FLAGS_DEFAULT, &res);
    assert_string_not_equal(res.payload_hash, SIGV4_EMPTY_PAYLOAD_SHA256);
    sigv4_result_release(&res);
}

static void test_amz_date(void **state)
{
    (void)state;
    struct sigv4_request req = vanilla_request();
    struct sigv4_credentials creds = {EXAMPLE_AKID, EXAMPLE_SECRET, NULL};
    struct sigv4_result res = {0};
    assert_int_equal(sigv4_sign(&req, &creds, "r", "s", 0, 0, &res), 0);
    assert_string_equal(res.amz_date, "19700101T000000Z");
    assert_non_null(strstr(res.authorization, "Credential=AKIDEXAMPLE/19700101/r/s/aws4_request,"));
    sigv4_result_release(&res);
    assert_int_equal(sigv4_sign(&req, &creds, "r", "s", INT64_C(253402300799), 0, &res), 0);
    assert_string_equal(res.amz_date, "99991231T235959Z");
    sigv4_result_release(&res);
    assert_int_equal(sigv4_sign(&req, &creds, "r", "s", INT64_C(951782400), 0, &res), 0);
    assert_string_equal(res.amz_date, "20000229T000000Z");
    sigv4_result_release(&res);
    assert_int_equal(sigv4_sign(&req, &creds, "r", "s", INT64_C(253402300800), 0, &res), -EINVAL);
    assert_int_equal(sigv4_sign(&req, &creds, "r", "s", -1, 0, &res), -EINVAL);
    assert_int_equal(sigv4_sign(&req, &creds, "r", "s", INT64_MIN, 0, &res), -EINVAL);
}

static void test_presign_extra(void **state)
{
    (void)state;
    struct sigv4_request req = vanilla_request();
    struct sigv4_credentials creds = {EXAMPLE_AKID, EXAMPLE_SECRET, NULL};
    struct sigv4_result res = {0};
    req.expires_seconds = 60;
    req.query = "X-Amz-Signature=abc";
    assert_int_equal(sigv4_sign(&req, &creds, "r", "s", EXAMPLE_EPOCH, SIGV4_PRESIGN, &res),
                     -EINVAL);
    req.query = "x-amz-signature=abc";
    assert_int_equal(sigv4_sign(&req, &creds, "r", "s", EXAMPLE_EPOCH, SIGV4_PRESIGN, &res), 0);
    assert_non_null(strstr(res.presigned_query, "&X-Amz-Expires=60&X-Amz-Signature="));
    sigv4_result_release(&res);
    req.query = NULL;
    req.expires_seconds = 0;
    assert_int_equal(sigv4_sign(&req, &creds, "r", "s", EXAMPLE_EPOCH, SIGV4_PRESIGN, &res),
                     -EINVAL);
    req.expires_seconds = SIGV4_MAX_EXPIRES_SECONDS + 1;
    assert_int_equal(sigv4_sign(&req, &creds, "r", "s", EXAMPLE_EPOCH, SIGV4_PRESIGN, &res),
                     -EINVAL);
    req.expires_seconds = SIGV4_MAX_EXPIRES_SECONDS;
    assert_int_equal(sigv4_sign(&req, &creds, "r", "s", EXAMPLE_EPOCH,
                                SIGV4_PRESIGN | SIGV4_ADD_CONTENT_SHA256, &res),
                     -EINVAL);
    assert_int_equal(sigv4_sign(&req, &creds, "r", "s", EXAMPLE_EPOCH, SIGV4_PRESIGN, &res), 0);
    assert_non_null(strstr(res.presigned_query, "&X-Amz-Expires=604800&"));
    sigv4_result_release(&res);
}

static int sign_with(const struct sigv4_request *req, const struct sigv4_credentials *creds,
                     const char *region, const char *service, unsigned flags,
                     struct sigv4_result *res)
{
    return sigv4_sign(req, creds, region, service, EXAMPLE_EPOCH, flags, res);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    struct sigv4_request req = vanilla_request();
    struct sigv4_credentials creds = {EXAMPLE_AKID, EXAMPLE_SECRET, NULL};
    struct sigv4_result res;
    const unsigned def = SIGV4_FLAGS_DEFAULT;

    /* On failure the result is left untouched. */
    memset(&res, 0xa5, sizeof(res));
    struct sigv4_result pattern;
    memset(&pattern, 0xa5, sizeof(pattern));

    assert_int_equal(sign_with(NULL, &creds, "r", "s", def, &res), -EINVAL);
    assert_int_equal(sign_with(&req, NULL, "r", "s", def, &res), -EINVAL);
    assert_int_equal(sign_with(&req, &creds, "r", "s", def, NULL), -EINVAL);
    assert_int_equal(sign_with(&req, &creds, NULL, "s", def, &res), -EINVAL);
    assert_int_equal(sign_with(&req, &creds, "r", "", def, &res), -EINVAL);
    assert_int_equal(sign_with(&req, &creds, "us east", "s", def, &res), -EINVAL);
    assert_int_equal(sign_with(&req, &creds, "r", "s/x", def, &res), -EINVAL);
    assert_int_equal(sign_with(&req, &creds, "r", "s", 1u << 12, &res), -EINVAL);

    struct sigv4_credentials c = creds;
    c.access_key_id = "";
    assert_int_equal(sign_with(&req, &c, "r", "s", def, &res), -EINVAL);
    c.access_key_id = "AKID/X";
    assert_int_equal(sign_with(&req, &c, "r", "s", def, &res), -EINVAL);
    c = creds;
    c.secret_access_key = NULL;
    assert_int_equal(sign_with(&req, &c, "r", "s", def, &res), -EINVAL);
    c.secret_access_key = "";
    assert_int_equal(sign_with(&req, &c, "r", "s", def, &res), -EINVAL);
    char long_secret[SIGV4_MAX_SECRET_BYTES + 2];
    memset(long_secret, 'k', sizeof(long_secret) - 1);
    long_secret[sizeof(long_secret) - 1] = '\0';
    c.secret_access_key = long_secret;
    assert_int_equal(sign_with(&req, &c, "r", "s", def, &res), -EINVAL);
    c = creds;
    c.session_token = "tok\nen";
    assert_int_equal(sign_with(&req, &c, "r", "s", def, &res), -EINVAL);

    struct sigv4_request q = req;
    q.method = "";
    assert_int_equal(sign_with(&q, &creds, "r", "s", def, &res), -EINVAL);
    q.method = "GE T";
    assert_int_equal(sign_with(&q, &creds, "r", "s", def, &res), -EINVAL);
    q = req;
    q.payload_hash = "not hex!";
    assert_int_equal(sign_with(&q, &creds, "r", "s", def, &res), -EINVAL);
    q.payload_hash = "";
    assert_int_equal(sign_with(&q, &creds, "r", "s", def, &res), -EINVAL);
    q.payload_hash = "0123456789012345678901234567890123456789012345678901234567890123456789";
    assert_int_equal(sign_with(&q, &creds, "r", "s", def, &res), -EINVAL);
    q = req;
    q.body_len = 3;
    assert_int_equal(sign_with(&q, &creds, "r", "s", def, &res), -EINVAL);

    /* Headers: Host required, names must be tokens, reserved names refused. */
    struct sigv4_header h[2] = {{"Host", "h"}, {NULL, NULL}};
    q = req;
    q.headers = h;
    q.header_count = 2;
    const char *bad_names[] = {
        "", "a b", "a:b", "Authorization", "X-Amz-Date", "x-amz-security-token", "a\x01"};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        h[1].name = bad_names[i];
        h[1].value = "v";
        if (sign_with(&q, &creds, "r", "s", def, &res) != -EINVAL)
            fail_msg("header name '%s' accepted", bad_names[i]);
    }
    h[1].name = "x-amz-content-sha256";
    assert_int_equal(sign_with(&q, &creds, "r", "s", SIGV4_FLAGS_S3, &res), -EINVAL);
    h[1].value = NULL;
    h[1].name = "x-ok";
    assert_int_equal(sign_with(&q, &creds, "r", "s", def, &res), -EINVAL);
    h[0].name = "Hostname";
    h[1].value = "v";
    assert_int_equal(sign_with(&q, &creds, "r", "s", def, &res), -EINVAL);
    q.headers = NULL;
    assert_int_equal(sign_with(&q, &creds, "r", "s", def, &res), -EINVAL);
    q.header_count = 0;
    assert_int_equal(sign_with(&q, &creds, "r", "s", def, &res), -EINVAL);

    assert_memory_equal(&res, &pattern, sizeof(res));

    /* Limits. */
    struct sigv4_header many[SIGV4_MAX_HEADERS + 1];
    for (size_t i = 0; i < SIGV4_MAX_HEADERS + 1; i++)
        many[i] = (struct sigv4_header){"Host", "h"};
    q = req;
    q.headers = many;
    q.header_count = SIGV4_MAX_HEADERS + 1;
    assert_int_equal(sign_with(&q, &creds, "r", "s", def, &res), -E2BIG);
    q.header_count = SIGV4_MAX_HEADERS;
    memset(&res, 0, sizeof(res));
    assert_int_equal(sign_with(&q, &creds, "r", "s", def, &res), 0);
    sigv4_result_release(&res);

    char *huge = malloc(SIGV4_MAX_OUTPUT_BYTES + 2);
    assert_non_null(huge);
    memset(huge, 'v', SIGV4_MAX_OUTPUT_BYTES + 1);
    huge[SIGV4_MAX_OUTPUT_BYTES + 1] = '\0';
    q = req;
    q.query = huge;
    assert_int_equal(sign_with(&q, &creds, "r", "s", def, &res), -E2BIG);
    free(huge);
}

static void test_result_release(void **state)
{
    (void)state;
    struct sigv4_result res = {0};
    sigv4_result_release(NULL);
    sigv4_result_release(&res);
    struct sigv4_request req = vanilla_request();
    sign_ok(&req, SIGV4_FLAGS_DEFAULT, &res);
    assert_non_null(res.authorization);
    sigv4_result_release(&res);
    assert_null(res.authorization);
    assert_null(res.canonical_request);
    assert_int_equal(res.signature[0], '\0');
    sigv4_result_release(&res);
}

#define HEADER_TEST(dir) {"header:" dir, test_vector_header, NULL, NULL, (void *)dir},
#define QUERY_TEST(dir)  {"query:" dir, test_vector_query, NULL, NULL, (void *)dir},

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector_dir_complete),
        SIGV4_CASES(HEADER_TEST) SIGV4_CASES(QUERY_TEST) cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_session_token_botocore),
        cmocka_unit_test(test_canonical_botocore),
        cmocka_unit_test(test_canonical_path),
        cmocka_unit_test(test_canonical_query),
        cmocka_unit_test(test_canonical_headers),
        cmocka_unit_test(test_payload),
        cmocka_unit_test(test_amz_date),
        cmocka_unit_test(test_presign_extra),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_result_release),
    };
    return cmocka_run_group_tests_name("sigv4", tests, NULL, NULL);
}
