/*
 * DESIGN
 * Signing builds five strings, in this order, each in a capped growable buffer:
 *  1. the canonical header block and the signed-header list (the presigned query
 *     needs the list, so headers come first);
 *  2. the canonical query (with the X-Amz-* parameters when presigning);
 *  3. the canonical URI;
 *  4. the canonical request, from 1-3 plus the method and the payload hash;
 *  5. the string to sign: algorithm, date, scope and the SHA-256 of 4.
 * The buffers use a sticky error (the first failed append is remembered and later
 * appends do nothing), so the builders read as straight-line code and the error is
 * checked once per string.
 *
 * Headers are sorted as an array of borrowed pointers with a case-insensitive
 * comparison on the name and the caller's order as tie-break, which gives the
 * "repeated headers joined in order" rule for free and allocates nothing per header.
 *
 * The signing key is derived with four HMACs into stack buffers; the "AWS4" + secret
 * key and every intermediate key are wiped with OPENSSL_cleanse() on every path out.
 */
#include "exporters/sigv4.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SIGV4_SHA256_BYTES 32
#define SIGV4_TERMINATOR   "aws4_request"
/* 9999-12-31T23:59:59Z: the last second with a four-digit year. */
#define SIGV4_MAX_EPOCH_SECONDS INT64_C(253402300799)

/* Capped growable string with a sticky error; always NUL-terminated once allocated. */
struct sbuf {
    char *data;
    size_t len;
    size_t cap;
    int err;
};

static void sbuf_reserve(struct sbuf *b, size_t extra)
{
    if (b->err)
        return;
    if (extra > SIGV4_MAX_OUTPUT_BYTES || b->len > SIGV4_MAX_OUTPUT_BYTES - extra) {
        b->err = -E2BIG;
        return;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown) {
        b->err = -ENOMEM;
        return;
    }
    b->data = grown;
    b->cap = cap;
}

static void sbuf_add(struct sbuf *b, const void *p, size_t n)
{
    sbuf_reserve(b, n);
    if (b->err)
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sbuf_adds(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

static void sbuf_addc(struct sbuf *b, char c)
{
    sbuf_add(b, &c, 1);
}

/* Take the string out of the buffer (an empty buffer yields ""); NULL on error. */
static char *sbuf_detach(struct sbuf *b)
{
    sbuf_reserve(b, 0);
    if (b->err)
        return NULL;
    b->data[b->len] = '\0';
    char *s = b->data;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return s;
}

static void sbuf_release(struct sbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->err = 0;
}

static bool is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* RFC 3986 unreserved. */
static bool is_unreserved(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 9110 token character (header names, methods). */
static bool is_tchar(unsigned char c)
{
    return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static bool all_chars(const char *s, bool (*pred)(unsigned char))
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!pred((unsigned char)*s))
            return false;
    return true;
}

/* Characters allowed in the credential scope and the access key id. */
static bool is_scope_char(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '.' || c == '_';
}

static bool is_payload_hash_char(unsigned char c)
{
    return is_alnum(c) || c == '-';
}

/* Visible ASCII: what a session token may contain (it goes into a header or query). */
static bool is_token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

static void hex_lower(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * n] = '\0';
}

static void add_pct(struct sbuf *b, unsigned char c)
{
    static const char digits[] = "0123456789ABCDEF";
    char esc[3] = {'%', digits[c >> 4], digits[c & 0xf]};
    sbuf_add(b, esc, sizeof(esc));
}

/* Case-insensitive (ASCII) comparison of two NUL-terminated names. */
static int name_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char ca = ascii_lower((unsigned char)*a);
        unsigned char cb = ascii_lower((unsigned char)*b);
        if (ca != cb || ca == '\0')
            return (int)ca - (int)cb;
    }
}

static void put_digits(char *out, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

static int format_amz_date(int64_t epoch_seconds, char out[SIGV4_AMZ_DATE_LEN + 1])
{
    if (epoch_seconds < 0 || epoch_seconds > SIGV4_MAX_EPOCH_SECONDS)
        return -EINVAL;
    time_t t = (time_t)epoch_seconds;
    if ((int64_t)t != epoch_seconds)
        return -EINVAL;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return -EINVAL;
    put_digits(out, (unsigned)(tm.tm_year + 1900), 4);
    put_digits(out + 4, (unsigned)(tm.tm_mon + 1), 2);
    put_digits(out + 6, (unsigned)tm.tm_mday, 2);
    out[8] = 'T';
    put_digits(out + 9, (unsigned)tm.tm_hour, 2);
    put_digits(out + 11, (unsigned)tm.tm_min, 2);
    put_digits(out + 13, (unsigned)tm.tm_sec, 2);
    out[15] = 'Z';
    out[16] = '\0';
    return 0;
}

static int sha256_hex(const void *data, size_t len, char out[SIGV4_HEX_SHA256_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(len ? data : "", len, md, &md_len, EVP_sha256(), NULL) != 1 ||
        md_len != SIGV4_SHA256_BYTES)
        return -EIO;
    hex_lower(md, SIGV4_SHA256_BYTES, out);
    return 0;
}

static int hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                       unsigned char out[SIGV4_SHA256_BYTES])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int r = 0;
    if (key_len > INT_MAX)
        return -EINVAL;
    if (!HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, md, &md_len) ||
        md_len != SIGV4_SHA256_BYTES)
        r = -EIO;
    else
        memcpy(out, md, SIGV4_SHA256_BYTES);
    OPENSSL_cleanse(md, sizeof(md));
    return r;
}

/*
 * signature = hex(HMAC(kSigning, string_to_sign)), with
 * kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
 */
static int compute_signature(const char *secret, const char *date8, const char *region,
                             const char *service, const char *sts, size_t sts_len,
                             char out[SIGV4_HEX_SHA256_LEN + 1])
{
    unsigned char k_secret[4 + SIGV4_MAX_SECRET_BYTES];
    unsigned char k_a[SIGV4_SHA256_BYTES], k_b[SIGV4_SHA256_BYTES];
    size_t secret_len = strlen(secret);
    int r;

    memcpy(k_secret, "AWS4", 4);
    memcpy(k_secret + 4, secret, secret_len);
    r = hmac_sha256(k_secret, 4 + secret_len, date8, 8, k_a);
    if (r < 0)
        goto out_wipe_keys;
    r = hmac_sha256(k_a, sizeof(k_a), region, strlen(region), k_b);
    if (r < 0)
        goto out_wipe_keys;
    r = hmac_sha256(k_b, sizeof(k_b), service, strlen(service), k_a);
    if (r < 0)
        goto out_wipe_keys;
    r = hmac_sha256(k_a, sizeof(k_a), SIGV4_TERMINATOR, strlen(SIGV4_TERMINATOR), k_b);
    if (r < 0)
        goto out_wipe_keys;
    r = hmac_sha256(k_b, sizeof(k_b), sts, sts_len, k_a);
    if (r < 0)
        goto out_wipe_keys;
    hex_lower(k_a, sizeof(k_a), out);

out_wipe_keys:
    OPENSSL_cleanse(k_secret, sizeof(k_secret));
    OPENSSL_cleanse(k_a, sizeof(k_a));
    OPENSSL_cleanse(k_b, sizeof(k_b));
    return r;
}

/* ---- headers ---- */

struct header_entry {
    const char *name;
    const char *value;
    size_t order;
};

static int header_entry_cmp(const void *pa, const void *pb)
{
    const struct header_entry *a = pa, *b = pb;
    int c = name_cmp(a->name, b->name);
    if (c)
        return c;
    return (a->order > b->order) - (a->order < b->order);
}

/* Never signed: hop-by-hop headers and ones proxies rewrite (botocore's list). */
static bool header_is_unsignable(const char *name)
{
    static const char *const skip[] = {
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    };
    for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
        if (name_cmp(name, skip[i]) == 0)
            return true;
    return false;
}

/* Trim, and collapse every run of whitespace (which also folds multi-line values). */
static void add_header_value(struct sbuf *b, const char *v)
{
    bool pending_space = false, wrote = false;
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if (is_space(c)) {
            pending_space = true;
            continue;
        }
        if (pending_space && wrote)
            sbuf_addc(b, ' ');
        sbuf_addc(b, (char)c);
        pending_space = false;
        wrote = true;
    }
}

static void add_lower(struct sbuf *b, const char *s)
{
    for (; *s; s++)
        sbuf_addc(b, (char)ascii_lower((unsigned char)*s));
}

struct sign_params {
    const struct sigv4_request *req;
    unsigned flags;
    const char *amz_date;
    const char *token; /* NULL when there is no session token */
    bool sign_token;   /* token is part of what is signed */
    const char *payload_hash;
};

/* Fill `out` with "name:value\n" lines and `signed_list` with "a;b;c". */
static int build_headers(const struct sign_params *sp, struct sbuf *out, struct sbuf *signed_list)
{
    const struct sigv4_request *req = sp->req;
    bool presign = sp->flags & SIGV4_PRESIGN;
    bool add_sha = sp->flags & SIGV4_ADD_CONTENT_SHA256;
    struct header_entry *entries;
    size_t n = 0;
    bool have_host = false;
    int r = 0;

    if (req->header_count > SIGV4_MAX_HEADERS)
        return -E2BIG;
    if (req->header_count && !req->headers)
        return -EINVAL;
    entries = calloc(req->header_count + 3, sizeof(*entries));
    if (!entries)
        return -ENOMEM;

    for (size_t i = 0; i < req->header_count; i++) {
        const struct sigv4_header *h = &req->headers[i];
        if (!all_chars(h->name, is_tchar) || !h->value) {
            r = -EINVAL;
            goto out_free_entries;
        }
        if (name_cmp(h->name, "authorization") == 0 || name_cmp(h->name, "x-amz-date") == 0 ||
            name_cmp(h->name, "x-amz-security-token") == 0 ||
            (add_sha && name_cmp(h->name, "x-amz-content-sha256") == 0)) {
            r = -EINVAL;
            goto out_free_entries;
        }
        if (header_is_unsignable(h->name))
            continue;
        if (name_cmp(h->name, "host") == 0)
            have_host = true;
        entries[n++] = (struct header_entry){h->name, h->value, i};
    }
    if (!have_host) {
        r = -EINVAL;
        goto out_free_entries;
    }
    if (!presign)
        entries[n++] = (struct header_entry){"x-amz-date", sp->amz_date, SIZE_MAX};
    if (sp->sign_token && !presign)
        entries[n++] = (struct header_entry){"x-amz-security-token", sp->token, SIZE_MAX};
    if (add_sha)
        entries[n++] = (struct header_entry){"x-amz-content-sha256", sp->payload_hash, SIZE_MAX};

    qsort(entries, n, sizeof(*entries), header_entry_cmp);

    for (size_t i = 0; i < n;) {
        size_t j = i;
        add_lower(out, entries[i].name);
        sbuf_addc(out, ':');
        for (; j < n && name_cmp(entries[j].name, entries[i].name) == 0; j++) {
            if (j > i)
                sbuf_addc(out, ',');
            add_header_value(out, entries[j].value);
        }
        sbuf_addc(out, '\n');
        if (i > 0)
            sbuf_addc(signed_list, ';');
        add_lower(signed_list, entries[i].name);
        i = j;
    }
    r = out->err ? out->err : signed_list->err;

out_free_entries:
    free(entries);
    return r;
}

/* ---- query ---- */

/* Percent-encode everything but the unreserved set; with `decode`, valid %XX escapes
 * are decoded first (so an already-encoded component is not encoded twice). */
static void add_encoded(struct sbuf *b, const char *s, size_t n, bool decode)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (decode && c == '%' && i + 2 < n && hex_value((unsigned char)s[i + 1]) >= 0 &&
            hex_value((unsigned char)s[i + 2]) >= 0) {
            c = (unsigned char)(hex_value((unsigned char)s[i + 1]) * 16 +
                                hex_value((unsigned char)s[i + 2]));
            i += 2;
        }
        if (is_unreserved(c))
            sbuf_addc(b, (char)c);
        else
            add_pct(b, c);
    }
}

struct query_param {
    size_t key_off;
    size_t value_off;
    const char *key;
    const char *value;
};

static int query_param_cmp(const void *pa, const void *pb)
{
    const struct query_param *a = pa, *b = pb;
    int c = strcmp(a->key, b->key);
    return c ? c : strcmp(a->value, b->value);
}

/* Append one encoded "key\0value\0" pair to `store` and record its offsets. */
static void store_param(struct sbuf *store, struct query_param *p, const char *key, size_t key_len,
                        const char *value, size_t value_len, bool decode)
{
    p->key_off = store->len;
    add_encoded(store, key, key_len, decode);
    sbuf_addc(store, '\0');
    p->value_off = store->len;
    add_encoded(store, value, value_len, decode);
    sbuf_addc(store, '\0');
}

static const char *const presign_param_names[] = {
    "X-Amz-Algorithm",     "X-Amz-Credential",     "X-Amz-Date",      "X-Amz-Expires",
    "X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature",
};

static bool is_presign_param(const char *key)
{
    for (size_t i = 0; i < sizeof(presign_param_names) / sizeof(presign_param_names[0]); i++)
        if (strcmp(key, presign_param_names[i]) == 0)
            return true;
    return false;
}

struct presign_params {
    const char *credential; /* "AKID/date/region/service/aws4_request" */
    const char *amz_date;
    const char *expires;
    const char *signed_headers;
    const char *token; /* NULL when not signed */
};

/* The canonical query string: caller parameters (plus presign ones), sorted. */
static int build_query(const char *query, const struct presign_params *pp, struct sbuf *out)
{
    struct sbuf store = {0};
    struct query_param *params;
    size_t n = 0, n_caller, max = 6;
    int r = 0;

    if (!query)
        query = "";
    for (const char *p = query; *p; p++)
        if (*p == '&')
            max++;
    max++;
    params = calloc(max, sizeof(*params));
    if (!params)
        return -ENOMEM;

    for (const char *p = query; *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len) {
            const char *eq = memchr(p, '=', len);
            size_t key_len = eq ? (size_t)(eq - p) : len;
            const char *value = eq ? eq + 1 : p + len;
            size_t value_len = eq ? len - key_len - 1 : 0;
            store_param(&store, &params[n++], p, key_len, value, value_len, true);
        }
        p += len;
        if (*p == '&')
            p++;
    }
    n_caller = n;
    if (pp) {
        /* Same order as presign_param_names; X-Amz-Signature is not signed. */
        const char *values[] = {SIGV4_ALGORITHM, pp->credential,     pp->amz_date,
                                pp->expires,     pp->signed_headers, pp->token};
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
            const char *name = presign_param_names[i];
            if (values[i])
                store_param(&store, &params[n++], name, strlen(name), values[i], strlen(values[i]),
                            false);
        }
    }
    if (store.err) {
        r = store.err;
        goto out_free_params;
    }
    /* The store no longer moves: turn offsets into pointers and sort. */
    for (size_t i = 0; i < n; i++) {
        params[i].key = store.data + params[i].key_off;
        params[i].value = store.data + params[i].value_off;
    }
    /* A presigned request must not carry authentication parameters of its own. */
    for (size_t i = 0; pp && i < n_caller; i++) {
        if (is_presign_param(params[i].key)) {
            r = -EINVAL;
            goto out_free_params;
        }
    }
    qsort(params, n, sizeof(*params), query_param_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            sbuf_addc(out, '&');
        sbuf_adds(out, params[i].key);
        sbuf_addc(out, '=');
        sbuf_adds(out, params[i].value);
    }
    r = out->err;

out_free_params:
    free(params);
    sbuf_release(&store);
    return r;
}

/* ---- path ---- */

/* Dot-segment removal plus collapsing of empty segments, as botocore and aws-c-auth do
 * it: the result starts with '/' and ends with '/' only when the input did ("/a/b/.."
 * is "/a", "/a/./" is "/a/"). */
static void normalize_path(const char *path, struct sbuf *out)
{
    size_t path_len = strlen(path);
    const char *p = path;

    for (;;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *seg = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - seg);
        if (n == 1 && seg[0] == '.')
            continue;
        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            /* Pop the last segment, with its leading '/'. */
            while (out->len > 0 && out->data[out->len - 1] != '/')
                out->len--;
            if (out->len > 0)
                out->len--;
            if (out->data)
                out->data[out->len] = '\0';
            continue;
        }
        sbuf_addc(out, '/');
        sbuf_add(out, seg, n);
    }
    if (out->len == 0 || path[path_len - 1] == '/')
        sbuf_addc(out, '/');
}

/* Canonical URI from the (possibly normalised) wire path. */
static void add_canonical_path(struct sbuf *b, const char *p, size_t n, bool double_encode)
{
    if (n == 0 || p[0] != '/')
        sbuf_addc(b, '/');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '/' || is_unreserved(c)) {
            sbuf_addc(b, (char)c);
        } else if (!double_encode && c == '%' && i + 2 < n &&
                   hex_value((unsigned char)p[i + 1]) >= 0 &&
                   hex_value((unsigned char)p[i + 2]) >= 0) {
            unsigned char v = (unsigned char)(hex_value((unsigned char)p[i + 1]) * 16 +
                                              hex_value((unsigned char)p[i + 2]));
            i += 2;
            if (is_unreserved(v))
                sbuf_addc(b, (char)v);
            else
                add_pct(b, v);
        } else {
            add_pct(b, c);
        }
    }
}

static int build_uri(const char *path, unsigned flags, struct sbuf *out)
{
    struct sbuf norm = {0};
    int r;

    if (!path)
        path = "";
    if (flags & SIGV4_NORMALIZE_PATH) {
        normalize_path(path, &norm);
        if (norm.err) {
            r = norm.err;
            goto out_release_norm;
        }
        add_canonical_path(out, norm.data, norm.len, flags & SIGV4_DOUBLE_ENCODE_PATH);
    } else {
        add_canonical_path(out, path, strlen(path), flags & SIGV4_DOUBLE_ENCODE_PATH);
    }
    r = out->err;

out_release_norm:
    sbuf_release(&norm);
    return r;
}

/* ---- signing ---- */

static int check_args(const struct sigv4_request *req, const struct sigv4_credentials *creds,
                      const char *region, const char *service, unsigned flags,
                      const struct sigv4_result *ret)
{
    if (!req || !creds || !ret)
        return -EINVAL;
    if (flags & ~(unsigned)SIGV4_FLAG_ALL)
        return -EINVAL;
    if ((flags & SIGV4_PRESIGN) && (flags & SIGV4_ADD_CONTENT_SHA256))
        return -EINVAL;
    if ((flags & SIGV4_PRESIGN) &&
        (req->expires_seconds == 0 || req->expires_seconds > SIGV4_MAX_EXPIRES_SECONDS))
        return -EINVAL;
    if (!all_chars(req->method, is_tchar))
        return -EINVAL;
    if (!all_chars(region, is_scope_char) || !all_chars(service, is_scope_char))
        return -EINVAL;
    if (!all_chars(creds->access_key_id, is_scope_char))
        return -EINVAL;
    if (!creds->secret_access_key || !*creds->secret_access_key ||
        strlen(creds->secret_access_key) > SIGV4_MAX_SECRET_BYTES)
        return -EINVAL;
    if (creds->session_token && *creds->session_token &&
        !all_chars(creds->session_token, is_token_char))
        return -EINVAL;
    if (req->payload_hash) {
        if (!all_chars(req->payload_hash, is_payload_hash_char) ||
            strlen(req->payload_hash) > SIGV4_PAYLOAD_HASH_MAX)
            return -EINVAL;
    } else if (!req->body && req->body_len) {
        return -EINVAL;
    }
    return 0;
}

static void format_u32(uint32_t v, char out[11])
{
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}

int sigv4_sign(const struct sigv4_request *req, const struct sigv4_credentials *creds,
               const char *region, const char *service, int64_t epoch_seconds, unsigned flags,
               struct sigv4_result *ret)
{
    struct sigv4_result res = {0};
    struct sbuf scope = {0}, credential = {0}, headers = {0}, signed_list = {0}, query = {0};
    struct sbuf uri = {0}, creq = {0}, sts = {0}, auth = {0}, presigned = {0}, token = {0};
    char creq_hash[SIGV4_HEX_SHA256_LEN + 1];
    char date8[9];
    char expires[11];
    bool presign = flags & SIGV4_PRESIGN;
    struct sign_params sp = {0};
    struct presign_params pp = {0};
    const char *tok;
    int r;

    r = check_args(req, creds, region, service, flags, ret);
    if (r < 0)
        return r;
    tok = (creds->session_token && *creds->session_token) ? creds->session_token : NULL;

    r = format_amz_date(epoch_seconds, res.amz_date);
    if (r < 0)
        return r;
    memcpy(date8, res.amz_date, 8);
    date8[8] = '\0';
    if (req->payload_hash) {
        memcpy(res.payload_hash, req->payload_hash, strlen(req->payload_hash) + 1);
    } else {
        r = sha256_hex(req->body, req->body_len, res.payload_hash);
        if (r < 0)
            return r;
    }
    format_u32(req->expires_seconds, expires);

    /* "date/region/service/aws4_request" and "AKID/<scope>" */
    sbuf_adds(&scope, date8);
    sbuf_addc(&scope, '/');
    sbuf_adds(&scope, region);
    sbuf_addc(&scope, '/');
    sbuf_adds(&scope, service);
    sbuf_addc(&scope, '/');
    sbuf_adds(&scope, SIGV4_TERMINATOR);
    sbuf_adds(&credential, creds->access_key_id);
    sbuf_addc(&credential, '/');
    sbuf_add(&credential, scope.data, scope.len);
    r = scope.err ? scope.err : credential.err;
    if (r < 0)
        goto out_release_buffers;

    sp.req = req;
    sp.flags = flags;
    sp.amz_date = res.amz_date;
    sp.token = tok;
    sp.sign_token = tok && (flags & SIGV4_SIGN_SESSION_TOKEN);
    sp.payload_hash = res.payload_hash;
    r = build_headers(&sp, &headers, &signed_list);
    if (r < 0)
        goto out_release_buffers;

    pp.credential = credential.data;
    pp.amz_date = res.amz_date;
    pp.expires = expires;
    pp.signed_headers = signed_list.data;
    pp.token = sp.sign_token ? tok : NULL;
    r = build_query(req->query, presign ? &pp : NULL, &query);
    if (r < 0)
        goto out_release_buffers;
    r = build_uri(req->path, flags, &uri);
    if (r < 0)
        goto out_release_buffers;

    /* METHOD \n URI \n QUERY \n HEADERS (each line ends in \n) \n SIGNED \n HASH */
    sbuf_adds(&creq, req->method);
    sbuf_addc(&creq, '\n');
    sbuf_add(&creq, uri.data, uri.len);
    sbuf_addc(&creq, '\n');
    sbuf_add(&creq, query.data, query.len);
    sbuf_addc(&creq, '\n');
    sbuf_add(&creq, headers.data, headers.len);
    sbuf_addc(&creq, '\n');
    sbuf_add(&creq, signed_list.data, signed_list.len);
    sbuf_addc(&creq, '\n');
    sbuf_adds(&creq, res.payload_hash);
    r = creq.err;
    if (r < 0)
        goto out_release_buffers;
    r = sha256_hex(creq.data, creq.len, creq_hash);
    if (r < 0)
        goto out_release_buffers;

    sbuf_adds(&sts, SIGV4_ALGORITHM "\n");
    sbuf_adds(&sts, res.amz_date);
    sbuf_addc(&sts, '\n');
    sbuf_add(&sts, scope.data, scope.len);
    sbuf_addc(&sts, '\n');
    sbuf_adds(&sts, creq_hash);
    r = sts.err;
    if (r < 0)
        goto out_release_buffers;

    r = compute_signature(creds->secret_access_key, date8, region, service, sts.data, sts.len,
                          res.signature);
    if (r < 0)
        goto out_release_buffers;

    if (presign) {
        sbuf_adds(&presigned, "X-Amz-Algorithm=" SIGV4_ALGORITHM "&X-Amz-Credential=");
        add_encoded(&presigned, credential.data, credential.len, false);
        sbuf_adds(&presigned, "&X-Amz-Date=");
        sbuf_adds(&presigned, res.amz_date);
        sbuf_adds(&presigned, "&X-Amz-SignedHeaders=");
        add_encoded(&presigned, signed_list.data, signed_list.len, false);
        sbuf_adds(&presigned, "&X-Amz-Expires=");
        sbuf_adds(&presigned, expires);
        if (tok) {
            sbuf_adds(&presigned, "&X-Amz-Security-Token=");
            add_encoded(&presigned, tok, strlen(tok), false);
        }
        sbuf_adds(&presigned, "&X-Amz-Signature=");
        sbuf_adds(&presigned, res.signature);
        res.presigned_query = sbuf_detach(&presigned);
        if (!res.presigned_query) {
            r = presigned.err;
            goto out_release_result;
        }
    } else {
        sbuf_adds(&auth, SIGV4_ALGORITHM " Credential=");
        sbuf_add(&auth, credential.data, credential.len);
        sbuf_adds(&auth, ", SignedHeaders=");
        sbuf_add(&auth, signed_list.data, signed_list.len);
        sbuf_adds(&auth, ", Signature=");
        sbuf_adds(&auth, res.signature);
        res.authorization = sbuf_detach(&auth);
        if (!res.authorization) {
            r = auth.err;
            goto out_release_result;
        }
        if (tok) {
            sbuf_adds(&token, tok);
            res.security_token = sbuf_detach(&token);
            if (!res.security_token) {
                r = token.err;
                goto out_release_result;
            }
        }
    }
    res.signed_headers = sbuf_detach(&signed_list);
    res.canonical_request = sbuf_detach(&creq);
    res.string_to_sign = sbuf_detach(&sts);
    if (!res.signed_headers || !res.canonical_request || !res.string_to_sign) {
        r = -ENOMEM;
        goto out_release_result;
    }
    *ret = res;
    r = 0;
    goto out_release_buffers;

out_release_result:
    sigv4_result_release(&res);
out_release_buffers:
    sbuf_release(&scope);
    sbuf_release(&credential);
    sbuf_release(&headers);
    sbuf_release(&signed_list);
    sbuf_release(&query);
    sbuf_release(&uri);
    sbuf_release(&creq);
    sbuf_release(&sts);
    sbuf_release(&auth);
    sbuf_release(&presigned);
    sbuf_release(&token);
    return r;
}

void sigv4_result_release(struct sigv4_result *r)
{
    if (!r)
        return;
    free(r->authorization);
    free(r->security_token);
    free(r->presigned_query);
    free(r->signed_headers);
    free(r->canonical_request);
    free(r->string_to_sign);
    memset(r, 0, sizeof(*r));
}
