/*
 * DESIGN
 * A fetch is single-flight and runs as a small state machine on the loop:
 *
 *   plan (synchronous: env snapshot, shared files, token files)
 *     -> base credentials: static | STS AssumeRoleWithWebIdentity | container GET |
 *        IMDSv2 (PUT token -> GET role name -> GET role credentials)
 *     -> zero or more STS AssumeRole calls, each signed with the previous credentials
 *        (profile role chains, then creds_options.role_arn)
 *     -> install, arm the refresh timer, complete the waiters.
 *
 * The plan says which source answers and what to do; building it decides the chain
 * rule (absent: -ENOKEY, try the next source; present: its outcome is final). Only one
 * HTTP request is in flight at a time, so every completion comes back to one callback
 * that looks at the state. Each request gets one immediate retry on a transport error,
 * 5xx, 429 or throttling; IMDS also gets a new token once on 401.
 *
 * Waiters are completed through a zero-delay timer, so a fetch that ends synchronously
 * (static keys, a configuration error) never calls back inside creds_wait().
 *
 * Secrets (secret keys, session tokens, web identity and container authorization
 * tokens) are wiped before their memory is freed and never formatted into a log line;
 * answers' bodies are never logged either.
 */
#include "exporters/creds.h"

#include "agent/buf.h"
#include "agent/clock.h"
#include "agent/log.h"
#include "exporters/aws.h"
#include "exporters/http.h"
#include "exporters/ini.h"
#include "exporters/retry.h"
#include "exporters/sigv4.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define COMPONENT "creds"

#define DEFAULT_MARGIN_NS          (5 * 60 * NS_PER_SEC)
#define MAX_GRACE_NS               (30 * NS_PER_SEC)
#define DEFAULT_IMDS_TIMEOUT_MS    1000u
#define DEFAULT_IMDS_ATTEMPTS      2u
#define CONTAINER_MIN_TIMEOUT_MS   2000u
#define CONTAINER_ATTEMPTS         2u
#define STS_TIMEOUT_MS             10000u
#define STS_ATTEMPTS               2u
#define IMDS_TOKEN_TTL_S           21600u
#define IMDS_TOKEN_EARLY_NS        (60 * NS_PER_SEC)
#define RETRY_BASE_NS              (1 * NS_PER_SEC)
#define RETRY_CAP_NS               (60 * NS_PER_SEC)
#define RETRY_MIN_NS               (100 * NS_PER_MS)
#define MAX_SHARED_FILE_BYTES      (1u << 20)
#define MAX_TOKEN_FILE_BYTES       (64u * 1024u)
#define MAX_RESPONSE_BYTES         (256u * 1024u)
#define MAX_BODY_BYTES             (256u * 1024u)
#define MAX_KEY_ID_LEN             128u
#define MAX_SESSION_TOKEN_LEN      (64u * 1024u)
#define DEFAULT_ROLE_SESSION_NAME  "osprey"
#define DEFAULT_SIGNING_REGION     "us-east-1"
#define DEFAULT_IMDS_ENDPOINT      "http://169.254.169.254"
#define DEFAULT_IMDS_ENDPOINT_IPV6 "http://[fd00:ec2::254]"
#define DEFAULT_ECS_ENDPOINT       "http://169.254.170.2"
#define FORM_CONTENT_TYPE          "application/x-www-form-urlencoded; charset=utf-8"
#define USER_AGENT                 "osprey/" OSPREY_VERSION

/* ---- environment snapshot ------------------------------------------------------------ */

enum env_var {
    ENV_ACCESS_KEY_ID = 0,
    ENV_SECRET_ACCESS_KEY,
    ENV_SESSION_TOKEN,
    ENV_SECURITY_TOKEN,
    ENV_WEB_IDENTITY_TOKEN_FILE,
    ENV_ROLE_ARN,
    ENV_ROLE_SESSION_NAME,
    ENV_PROFILE,
    ENV_DEFAULT_PROFILE,
    ENV_SHARED_CREDENTIALS_FILE,
    ENV_CONFIG_FILE,
    ENV_HOME,
    ENV_CONTAINER_RELATIVE_URI,
    ENV_CONTAINER_FULL_URI,
    ENV_CONTAINER_AUTH_TOKEN,
    ENV_CONTAINER_AUTH_TOKEN_FILE,
    ENV_EC2_METADATA_DISABLED,
    ENV_EC2_METADATA_ENDPOINT,
    ENV_EC2_METADATA_ENDPOINT_MODE,
    ENV_METADATA_TIMEOUT,
    ENV_METADATA_ATTEMPTS,
    ENV_REGION,
    ENV_DEFAULT_REGION,
    ENV_COUNT
};

static const char *const env_names[ENV_COUNT] = {
    [ENV_ACCESS_KEY_ID] = "AWS_ACCESS_KEY_ID",
    [ENV_SECRET_ACCESS_KEY] = "AWS_SECRET_ACCESS_KEY",
    [ENV_SESSION_TOKEN] = "AWS_SESSION_TOKEN",
    [ENV_SECURITY_TOKEN] = "AWS_SECURITY_TOKEN",
    [ENV_WEB_IDENTITY_TOKEN_FILE] = "AWS_WEB_IDENTITY_TOKEN_FILE",
    [ENV_ROLE_ARN] = "AWS_ROLE_ARN",
    [ENV_ROLE_SESSION_NAME] = "AWS_ROLE_SESSION_NAME",
    [ENV_PROFILE] = "AWS_PROFILE",
    [ENV_DEFAULT_PROFILE] = "AWS_DEFAULT_PROFILE",
    [ENV_SHARED_CREDENTIALS_FILE] = "AWS_SHARED_CREDENTIALS_FILE",
    [ENV_CONFIG_FILE] = "AWS_CONFIG_FILE",
    [ENV_HOME] = "HOME",
    [ENV_CONTAINER_RELATIVE_URI] = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    [ENV_CONTAINER_FULL_URI] = "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    [ENV_CONTAINER_AUTH_TOKEN] = "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    [ENV_CONTAINER_AUTH_TOKEN_FILE] = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    [ENV_EC2_METADATA_DISABLED] = "AWS_EC2_METADATA_DISABLED",
    [ENV_EC2_METADATA_ENDPOINT] = "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    [ENV_EC2_METADATA_ENDPOINT_MODE] = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
    [ENV_METADATA_TIMEOUT] = "AWS_METADATA_SERVICE_TIMEOUT",
    [ENV_METADATA_ATTEMPTS] = "AWS_METADATA_SERVICE_NUM_ATTEMPTS",
    [ENV_REGION] = "AWS_REGION",
    [ENV_DEFAULT_REGION] = "AWS_DEFAULT_REGION",
};

/* ---- sources and plans --------------------------------------------------------------- */

enum creds_src {
    SRC_NONE = -1,
    SRC_ENV = 0,
    SRC_WEB_IDENTITY,
    SRC_SHARED,
    SRC_CONTAINER,
    SRC_IMDS,
    SRC_COUNT
};

static const char *const src_names[SRC_COUNT] = {
    [SRC_ENV] = "environment",    [SRC_WEB_IDENTITY] = "web-identity",
    [SRC_SHARED] = "shared-file", [SRC_CONTAINER] = "container",
    [SRC_IMDS] = "imds",
};

enum base_kind {
    BASE_STATIC,
    BASE_WEB_IDENTITY,
    BASE_CONTAINER,
    BASE_IMDS,
};

struct role_step {
    char *role_arn;
    char *session_name;
    char *external_id;
};

struct plan {
    enum base_kind base;
    const char *base_source;                   /* aws_credentials.source of the base credentials */
    char *akid, *secret, *token;               /* BASE_STATIC */
    char *wi_token, *wi_role_arn, *wi_session; /* BASE_WEB_IDENTITY (wi_token is secret) */
    char *url, *auth;                          /* BASE_CONTAINER (auth is secret) */
    struct role_step steps[CREDS_MAX_ROLE_CHAIN];
    size_t n_steps;
};

enum fetch_state {
    FS_IDLE,
    FS_IMDS_TOKEN,
    FS_IMDS_ROLE,
    FS_IMDS_CREDS,
    FS_CONTAINER,
    FS_WEB_IDENTITY,
    FS_ASSUME_ROLE,
};

struct waiter {
    void (*cb)(void *data, int status);
    void *data;
    int status;
    struct waiter *next;
};

struct creds_provider {
    uv_loop_t *loop;

    /* configuration (owned copies) */
    char *region; /* NULL: none known */
    char *signing_region;
    char *role_arn;
    char *role_session_name;
    char *profile; /* resolved: option > AWS_PROFILE > AWS_DEFAULT_PROFILE > "default" */
    bool profile_from_option;
    bool profile_explicit;
    char *credentials_file; /* option > env > ~/.aws/credentials; NULL when unknown */
    char *config_file;
    char *imds_url; /* no trailing slash */
    char *ecs_url;
    struct aws_endpoint sts;
    uint64_t imds_timeout_ms;
    unsigned imds_attempts;
    uint64_t margin_ns;
    uint64_t grace_ns;
    char *env[ENV_COUNT];

    struct http_client *md_http;  /* IMDS and container: never through a proxy */
    struct http_client *sts_http; /* STS: environment proxy, TLS verified */
    uv_timer_t refresh_timer;
    uv_timer_t notify_timer;

    struct aws_credentials *current;
    struct aws_credentials *retired; /* previous generation, kept for borrowed pointers */
    enum creds_src locked;
    int last_error;
    unsigned backoff_attempt;
    struct retry_rng rng;

    /* the fetch in progress */
    bool fetching;
    enum fetch_state state;
    enum creds_src plan_src;
    struct plan plan;
    size_t step;
    unsigned attempt;
    bool retoken_done;
    bool in_flight;
    struct aws_credentials *work;
    struct buf body;
    char *imds_token;
    uint64_t imds_token_expiry_mono_ns;
    char *imds_role;
    char why[512];

    struct waiter *waiting; /* for the fetch in progress or the next one */
    struct waiter *ready;   /* completed, delivered by notify_timer */

    bool closing;
    unsigned open_parts;
    void (*on_closed)(void *data);
    void *on_closed_data;
    struct log_complain complain;
    struct log_complain file_complain;
};

/* ---- small helpers --------------------------------------------------------------------- */

static void wipe_free(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

static int dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    if (!src || !src[0])
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -ENOMEM;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void creds_free(struct aws_credentials *c)
{
    if (!c)
        return;
    free(c->access_key_id);
    wipe_free(c->secret_access_key);
    wipe_free(c->session_token);
    free(c);
}

static struct aws_credentials *creds_new(const char *akid, const char *secret, const char *token,
                                         uint64_t expiration_ns)
{
    struct aws_credentials *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->access_key_id = strdup(akid);
    c->secret_access_key = strdup(secret);
    c->session_token = token && token[0] ? strdup(token) : NULL;
    c->expiration_ns = expiration_ns;
    if (!c->access_key_id || !c->secret_access_key || (token && token[0] && !c->session_token)) {
        creds_free(c);
        return NULL;
    }
    return c;
}

/* What sigv4 accepts and a header can carry. */
static bool valid_key_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_KEY_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool printable(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

static int validate_keys(const char *akid, const char *secret, const char *token)
{
    if (!akid || !valid_key_id(akid))
        return -EBADMSG;
    if (!secret || !printable(secret, SIGV4_MAX_SECRET_BYTES))
        return -EBADMSG;
    if (token && token[0] && !printable(token, MAX_SESSION_TOKEN_LEN))
        return -EBADMSG;
    return 0;
}

static const char *env(const struct creds_provider *p, enum env_var v)
{
    return p->env[v];
}

static bool env_true(const struct creds_provider *p, enum env_var v)
{
    const char *s = env(p, v);
    return s && strcasecmp(s, "true") == 0;
}

static void set_why(struct creds_provider *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_why(struct creds_provider *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->why, sizeof(p->why), fmt, ap);
    va_end(ap);
}

/* Read a small local file whole, NUL-terminated. -errno, -EFBIG past max. */
static int read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
    int r = 0;
    char *data = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        r = -errno;
        goto out_close;
    }
    if (S_ISDIR(st.st_mode)) {
        r = -EISDIR;
        goto out_close;
    }
    size_t cap = 4096, len = 0;
    data = malloc(cap + 1);
    if (!data) {
        r = -ENOMEM;
        goto out_close;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= max + 1) {
                r = -EFBIG;
                goto out_free;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *grown = realloc(data, ncap + 1);
            if (!grown) {
                r = -ENOMEM;
                goto out_free;
            }
            data = grown;
            cap = ncap;
        }
        ssize_t n = read(fd, data + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            goto out_free;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        r = -EFBIG;
        goto out_free;
    }
    data[len] = '\0';
    *ret = data;
    *ret_len = len;
    close(fd);
    return 0;

out_free:
    explicit_bzero(data, len);
    free(data);
out_close:
    close(fd);
    return r;
}

/* A token file's content without trailing blanks/newlines; -EINVAL if empty or if it
 * still holds CR/LF (it goes into a header or a form). */
static int read_token_file(const char *path, char **ret)
{
    char *data = NULL;
    size_t len = 0;
    int r = read_file(path, MAX_TOKEN_FILE_BYTES, &data, &len);
    if (r != 0)
        return r;
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' ' ||
                   data[len - 1] == '\t'))
        data[--len] = '\0';
    if (len == 0 || strlen(data) != len || strpbrk(data, "\r\n")) {
        explicit_bzero(data, len);
        free(data);
        return -EINVAL;
    }
    *ret = data;
    return 0;
}

static uint64_t ns_to_ms_ceil(uint64_t ns)
{
    return (ns + NS_PER_MS - 1) / NS_PER_MS;
}

/* ---- time ------------------------------------------------------------------------------ */

static bool digits(const char *s, size_t len, size_t at, size_t n, unsigned *ret)
{
    if (at + n > len)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[at + i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (unsigned)(c - '0');
    }
    *ret = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned mp = m > 2 ? m - 3 : m + 9; /* March = 0 */
    unsigned doy = (153 * mp + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int creds_parse_time(const char *s, size_t len, uint64_t *ret_ns)
{
    unsigned y, mo, d, h, mi, sec;
    if (!s || !ret_ns)
        return -EINVAL;
    if (!digits(s, len, 0, 4, &y) || len < 19 || s[4] != '-' || !digits(s, len, 5, 2, &mo) ||
        s[7] != '-' || !digits(s, len, 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, len, 11, 2, &h) ||
        s[13] != ':' || !digits(s, len, 14, 2, &mi) || s[16] != ':' || !digits(s, len, 17, 2, &sec))
        return -EINVAL;
    static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
        mi > 59 || sec > 60)
        return -EINVAL;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return -EINVAL;
    size_t i = 19;
    uint64_t frac_ns = 0;
    if (i < len && (s[i] == '.' || s[i] == ',')) {
        i++;
        size_t start = i;
        uint64_t scale = NS_PER_SEC / 10;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac_ns += (uint64_t)(s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start)
            return -EINVAL;
    }
    int64_t offset_s = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i] == '-' ? -1 : 1;
        unsigned oh, om;
        i++;
        if (!digits(s, len, i, 2, &oh))
            return -EINVAL;
        i += 2;
        if (i < len && s[i] == ':')
            i++;
        if (!digits(s, len, i, 2, &om))
            return -EINVAL;
        i += 2;
        if (oh > 23 || om > 59)
            return -EINVAL;
        offset_s = sign * (int64_t)(oh * 3600 + om * 60);
    }
    if (i != len)
        return -EINVAL;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 +
                   (int64_t)sec - offset_s;
    if (secs < 0)
        return -EINVAL;
    *ret_ns = (uint64_t)secs * NS_PER_SEC + frac_ns;
    return 0;
}

/* ---- answers ----------------------------------------------------------------------------- */

/* IMDS (all four fields, Code "Success" when present) or container (Token and Expiration
 * optional) JSON. */
static int parse_json_creds(const struct http_response *resp, bool imds,
                            struct aws_credentials **ret, char *why, size_t why_len)
{
    int r = -EBADMSG;
    json_t *j = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
    if (!json_is_object(j)) {
        snprintf(why, why_len, "the answer is not a JSON object");
        goto out;
    }
    json_t *code = json_object_get(j, "Code");
    if (imds && code && (!json_is_string(code) || strcmp(json_string_value(code), "Success"))) {
        snprintf(why, why_len, "the answer's Code is not Success");
        r = -EPROTO;
        goto out;
    }
    const char *akid = json_string_value(json_object_get(j, "AccessKeyId"));
    const char *secret = json_string_value(json_object_get(j, "SecretAccessKey"));
    json_t *jtoken = json_object_get(j, "Token");
    json_t *jexp = json_object_get(j, "Expiration");
    const char *token = json_string_value(jtoken);
    const char *exp = json_string_value(jexp);
    if (!akid || !secret || (imds && (!token || !exp)) || (jtoken && !token) || (jexp && !exp)) {
        snprintf(why, why_len,
                 "the answer lacks AccessKeyId, SecretAccessKey, Token or "
                 "Expiration");
        goto out;
    }
    if (validate_keys(akid, secret, token) != 0) {
        snprintf(why, why_len, "the answer holds an invalid key id, secret or token");
        goto out;
    }
    uint64_t exp_ns = 0;
    if (exp && creds_parse_time(exp, strlen(exp), &exp_ns) != 0) {
        snprintf(why, why_len, "the answer's Expiration is not an ISO 8601 time");
        goto out;
    }
    *ret = creds_new(akid, secret, token, exp_ns);
    r = *ret ? 0 : -ENOMEM;
out:
    if (j) {
        /* The parsed strings held secrets too. */
        const char *s = json_string_value(json_object_get(j, "SecretAccessKey"));
        if (s)
            explicit_bzero((char *)s, strlen(s));
        s = json_string_value(json_object_get(j, "Token"));
        if (s)
            explicit_bzero((char *)s, strlen(s));
        json_decref(j);
    }
    return r;
}

/* The text of <name>...</name> inside [body, body + len), entities decoded. -ENOENT when
 * absent, -EBADMSG when malformed. */
static int xml_text(const char *body, size_t len, const char *name, char **ret)
{
    char open_tag[64], close_tag[64];
    snprintf(open_tag, sizeof(open_tag), "<%s>", name);
    snprintf(close_tag, sizeof(close_tag), "</%s>", name);
    const char *start = memmem(body, len, open_tag, strlen(open_tag));
    if (!start)
        return -ENOENT;
    start += strlen(open_tag);
    const char *end = memmem(start, len - (size_t)(start - body), close_tag, strlen(close_tag));
    if (!end)
        return -EBADMSG;
    size_t n = (size_t)(end - start);
    char *out = malloc(n + 1);
    if (!out)
        return -ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = start[i];
        if (c == '<')
            goto bad;
        if (c != '&') {
            out[o++] = c;
            continue;
        }
        const char *semi = memchr(start + i, ';', n - i);
        if (!semi)
            goto bad;
        size_t en = (size_t)(semi - (start + i)) + 1;
        const char *e = start + i;
        static const struct {
            const char *name;
            char c;
        } ents[] = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        bool done = false;
        for (size_t k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
            if (strlen(ents[k].name) == en && memcmp(e, ents[k].name, en) == 0) {
                out[o++] = ents[k].c;
                done = true;
                break;
            }
        }
        if (!done) {
            if (en < 4 || e[1] != '#')
                goto bad;
            unsigned long v = 0;
            bool hex = e[2] == 'x' || e[2] == 'X';
            size_t k = hex ? 3 : 2;
            if (k >= en - 1)
                goto bad;
            for (; k < en - 1; k++) {
                char h = e[k];
                unsigned dgt;
                if (h >= '0' && h <= '9')
                    dgt = (unsigned)(h - '0');
                else if (hex && h >= 'a' && h <= 'f')
                    dgt = (unsigned)(h - 'a' + 10);
                else if (hex && h >= 'A' && h <= 'F')
                    dgt = (unsigned)(h - 'A' + 10);
                else
                    goto bad;
                v = v * (hex ? 16 : 10) + dgt;
                if (v > 0x7f)
                    goto bad; /* only ASCII can appear in keys, tokens and times */
            }
            if (v == 0)
                goto bad;
            out[o++] = (char)v;
        }
        i += en - 1;
    }
    out[o] = '\0';
    /* Trim surrounding whitespace. */
    size_t a = 0;
    while (out[a] == ' ' || out[a] == '\n' || out[a] == '\r' || out[a] == '\t')
        a++;
    while (o > a &&
           (out[o - 1] == ' ' || out[o - 1] == '\n' || out[o - 1] == '\r' || out[o - 1] == '\t'))
        out[--o] = '\0';
    if (a)
        memmove(out, out + a, o - a + 1);
    *ret = out;
    return 0;
bad:
    explicit_bzero(out, n + 1);
    free(out);
    return -EBADMSG;
}

/* STS AssumeRole / AssumeRoleWithWebIdentity answer. */
static int parse_sts_creds(const struct http_response *resp, struct aws_credentials **ret,
                           char *why, size_t why_len)
{
    const char *body = (const char *)resp->body;
    size_t len = resp->body_len;
    const char *cs = memmem(body, len, "<Credentials>", 13);
    const char *ce = cs ? memmem(cs, len - (size_t)(cs - body), "</Credentials>", 14) : NULL;
    if (!cs || !ce) {
        snprintf(why, why_len, "the STS answer has no <Credentials>");
        return -EBADMSG;
    }
    size_t clen = (size_t)(ce - cs) + 14;
    char *akid = NULL, *secret = NULL, *token = NULL, *exp = NULL;
    int r = xml_text(cs, clen, "AccessKeyId", &akid);
    if (r == 0)
        r = xml_text(cs, clen, "SecretAccessKey", &secret);
    if (r == 0)
        r = xml_text(cs, clen, "SessionToken", &token);
    if (r == 0)
        r = xml_text(cs, clen, "Expiration", &exp);
    if (r == -ENOENT || r == -EBADMSG) {
        snprintf(why, why_len,
                 "the STS answer lacks or garbles AccessKeyId, SecretAccessKey, "
                 "SessionToken or Expiration");
        r = -EBADMSG;
        goto out;
    }
    if (r != 0)
        goto out;
    uint64_t exp_ns = 0;
    if (validate_keys(akid, secret, token) != 0 || !token[0]) {
        snprintf(why, why_len, "the STS answer holds an invalid key id, secret or token");
        r = -EBADMSG;
        goto out;
    }
    if (creds_parse_time(exp, strlen(exp), &exp_ns) != 0) {
        snprintf(why, why_len, "the STS answer's Expiration is not an ISO 8601 time");
        r = -EBADMSG;
        goto out;
    }
    *ret = creds_new(akid, secret, token, exp_ns);
    r = *ret ? 0 : -ENOMEM;
out:
    free(akid);
    wipe_free(secret);
    wipe_free(token);
    free(exp);
    return r;
}

/* ---- plans ------------------------------------------------------------------------------- */

static void plan_release(struct plan *pl)
{
    free(pl->akid);
    wipe_free(pl->secret);
    wipe_free(pl->token);
    wipe_free(pl->wi_token);
    free(pl->wi_role_arn);
    free(pl->wi_session);
    free(pl->url);
    wipe_free(pl->auth);
    for (size_t i = 0; i < pl->n_steps; i++) {
        free(pl->steps[i].role_arn);
        free(pl->steps[i].session_name);
        free(pl->steps[i].external_id);
    }
    memset(pl, 0, sizeof(*pl));
}

static int plan_static(struct plan *pl, const char *akid, const char *secret, const char *token,
                       const char *source)
{
    pl->base = BASE_STATIC;
    pl->base_source = source;
    if (dup_opt(&pl->akid, akid) || dup_opt(&pl->secret, secret) || dup_opt(&pl->token, token))
        return -ENOMEM;
    return 0;
}

static int plan_add_step(struct creds_provider *p, struct plan *pl, const char *role_arn,
                         const char *session, const char *external_id)
{
    if (pl->n_steps >= CREDS_MAX_ROLE_CHAIN) {
        set_why(p, "the role chain is longer than %d roles", CREDS_MAX_ROLE_CHAIN);
        return -ELOOP;
    }
    struct role_step *s = &pl->steps[pl->n_steps];
    if (dup_opt(&s->role_arn, role_arn) ||
        dup_opt(&s->session_name, session && session[0] ? session : DEFAULT_ROLE_SESSION_NAME) ||
        dup_opt(&s->external_id, external_id)) {
        pl->n_steps++; /* so that plan_release frees what was copied */
        return -ENOMEM;
    }
    pl->n_steps++;
    return 0;
}

static int plan_env(struct creds_provider *p, struct plan *pl)
{
    if (p->profile_from_option)
        return -ENOKEY; /* an explicit profile wins over env keys (botocore) */
    const char *akid = env(p, ENV_ACCESS_KEY_ID);
    if (!akid)
        return -ENOKEY;
    const char *secret = env(p, ENV_SECRET_ACCESS_KEY);
    if (!secret) {
        set_why(p, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
        return -EINVAL;
    }
    const char *token = env(p, ENV_SESSION_TOKEN);
    if (!token)
        token = env(p, ENV_SECURITY_TOKEN);
    if (validate_keys(akid, secret, token) != 0) {
        set_why(p, "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_SESSION_TOKEN is malformed");
        return -EINVAL;
    }
    return plan_static(pl, akid, secret, token, src_names[SRC_ENV]);
}

static int plan_web_identity_file(struct creds_provider *p, struct plan *pl, const char *file,
                                  const char *role_arn, const char *session)
{
    char *token = NULL;
    int r = read_token_file(file, &token);
    if (r != 0) {
        set_why(p, "cannot read the web identity token file %s: %s", file,
                r == -EINVAL ? "empty or holds a line break" : strerror(-r));
        return r;
    }
    pl->base = BASE_WEB_IDENTITY;
    pl->base_source = src_names[SRC_WEB_IDENTITY];
    pl->wi_token = token;
    if (dup_opt(&pl->wi_role_arn, role_arn) ||
        dup_opt(&pl->wi_session, session && session[0] ? session : DEFAULT_ROLE_SESSION_NAME))
        return -ENOMEM;
    return 0;
}

static int plan_web_identity(struct creds_provider *p, struct plan *pl)
{
    const char *file = env(p, ENV_WEB_IDENTITY_TOKEN_FILE);
    if (!file)
        return -ENOKEY;
    const char *role = env(p, ENV_ROLE_ARN);
    if (!role) {
        set_why(p, "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
        return -EINVAL;
    }
    const char *session = env(p, ENV_ROLE_SESSION_NAME);
    if (!session)
        session = p->role_session_name;
    return plan_web_identity_file(p, pl, file, role, session);
}

/* http:// only to loopback, ECS (169.254.170.2) or EKS Pod Identity (169.254.170.23,
 * fd00:ec2::23); https:// anywhere. */
static bool container_url_allowed(const char *url)
{
    if (strncasecmp(url, "https://", 8) == 0)
        return url[8] != '\0';
    if (strncasecmp(url, "http://", 7) != 0)
        return false;
    const char *h = url + 7;
    size_t hn = strcspn(h, "/?#");
    if (memchr(h, '@', hn))
        return false; /* no userinfo tricks */
    char host[64];
    if (h[0] == '[') {
        const char *close = memchr(h, ']', hn);
        if (!close || (size_t)(close - h - 1) >= sizeof(host))
            return false;
        memcpy(host, h + 1, (size_t)(close - h - 1));
        host[close - h - 1] = '\0';
        struct in6_addr a, loop6, eks6;
        if (inet_pton(AF_INET6, host, &a) != 1)
            return false;
        inet_pton(AF_INET6, "::1", &loop6);
        inet_pton(AF_INET6, "fd00:ec2::23", &eks6);
        return memcmp(&a, &loop6, sizeof(a)) == 0 || memcmp(&a, &eks6, sizeof(a)) == 0;
    }
    size_t n = strcspn(h, ":/?#");
    if (n == 0 || n >= sizeof(host))
        return false;
    memcpy(host, h, n);
    host[n] = '\0';
    if (strcasecmp(host, "localhost") == 0)
        return true;
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) != 1)
        return false;
    uint32_t ip = ntohl(a.s_addr);
    return (ip >> 24) == 127 || ip == 0xA9FEAA02u /* 169.254.170.2 */ ||
           ip == 0xA9FEAA17u /* 169.254.170.23 */;
}

static int plan_container(struct creds_provider *p, struct plan *pl)
{
    const char *rel = env(p, ENV_CONTAINER_RELATIVE_URI);
    const char *full = env(p, ENV_CONTAINER_FULL_URI);
    if (!rel && !full)
        return -ENOKEY;
    pl->base = BASE_CONTAINER;
    pl->base_source = src_names[SRC_CONTAINER];
    if (rel) {
        size_t n = strlen(p->ecs_url) + strlen(rel) + 2;
        pl->url = malloc(n);
        if (!pl->url)
            return -ENOMEM;
        snprintf(pl->url, n, "%s%s%s", p->ecs_url, rel[0] == '/' ? "" : "/", rel);
    } else {
        if (!container_url_allowed(full)) {
            set_why(p, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not allowed: http:// only to "
                       "loopback, 169.254.170.2, 169.254.170.23 or fd00:ec2::23");
            return -EACCES;
        }
        if (dup_opt(&pl->url, full))
            return -ENOMEM;
    }
    if (strpbrk(pl->url, " \r\n\t")) {
        set_why(p, "the container credentials URI holds blanks");
        return -EINVAL;
    }
    const char *file = env(p, ENV_CONTAINER_AUTH_TOKEN_FILE);
    if (file) {
        int r = read_token_file(file, &pl->auth);
        if (r != 0) {
            set_why(p, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s: %s", file,
                    r == -EINVAL ? "empty or holds a line break" : strerror(-r));
            return r;
        }
    } else if (env(p, ENV_CONTAINER_AUTH_TOKEN)) {
        const char *t = env(p, ENV_CONTAINER_AUTH_TOKEN);
        if (strpbrk(t, "\r\n")) {
            set_why(p, "AWS_CONTAINER_AUTHORIZATION_TOKEN holds a line break");
            return -EINVAL;
        }
        if (dup_opt(&pl->auth, t))
            return -ENOMEM;
    }
    return 0;
}

static int plan_imds(struct creds_provider *p, struct plan *pl)
{
    if (env_true(p, ENV_EC2_METADATA_DISABLED))
        return -ENOKEY;
    pl->base = BASE_IMDS;
    pl->base_source = src_names[SRC_IMDS];
    return 0;
}

/* -- shared files -- */

struct shared_files {
    char *cred;
    size_t cred_len;
    char *conf;
    size_t conf_len;
};

static void shared_release(struct shared_files *f)
{
    if (f->cred) {
        explicit_bzero(f->cred, f->cred_len);
        free(f->cred);
    }
    if (f->conf) {
        explicit_bzero(f->conf, f->conf_len);
        free(f->conf);
    }
    memset(f, 0, sizeof(*f));
}

static void shared_read_one(struct creds_provider *p, const char *path, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (!path)
        return;
    int r = read_file(path, MAX_SHARED_FILE_BYTES, data, len);
    if (r == -ENOENT || r == -ENOTDIR)
        return;
    if (r != 0) /* botocore skips unreadable files; say so */
        log_complain(&p->file_complain, LOG_LEVEL_WARN, COMPONENT,
                     "cannot read %s: %s, ignoring it", path, strerror(-r));
}

static void shared_load(struct creds_provider *p, struct shared_files *f)
{
    shared_read_one(p, p->credentials_file, &f->cred, &f->cred_len);
    shared_read_one(p, p->config_file, &f->conf, &f->conf_len);
}

static int profile_sections(struct creds_provider *p, const struct shared_files *f,
                            const char *name, struct ini_profile *cs, struct ini_profile *fs)
{
    memset(cs, 0, sizeof(*cs));
    memset(fs, 0, sizeof(*fs));
    int r = 0;
    if (f->cred)
        r = ini_profile_parse(f->cred, f->cred_len, INI_CREDENTIALS, name, cs);
    if (r == 0 && f->conf)
        r = ini_profile_parse(f->conf, f->conf_len, INI_CONFIG, name, fs);
    if (r != 0) {
        ini_profile_release(cs);
        ini_profile_release(fs);
        return r;
    }
    if (cs->bad_lines)
        log_complain(&p->file_complain, LOG_LEVEL_WARN, COMPONENT,
                     "%s: %u malformed line(s) ignored", p->credentials_file, cs->bad_lines);
    if (fs->bad_lines)
        log_complain(&p->file_complain, LOG_LEVEL_WARN, COMPONENT,
                     "%s: %u malformed line(s) ignored", p->config_file, fs->bad_lines);
    return 0;
}

static const char *merged(const struct ini_profile *cs, const struct ini_profile *fs,
                          enum ini_key k)
{
    const char *v = ini_profile_get(cs, k);
    return v ? v : ini_profile_get(fs, k);
}

/* Static keys of a profile: the credentials file's triple when it has a key id, else the
 * config file's (botocore's SharedCredentialProvider, then ConfigProvider). -ENOKEY when
 * neither has a key id. */
static int profile_static(struct creds_provider *p, struct plan *pl, const char *name,
                          const struct ini_profile *cs, const struct ini_profile *fs)
{
    const struct ini_profile *src = ini_profile_get(cs, INI_AWS_ACCESS_KEY_ID) ? cs : fs;
    const char *akid = ini_profile_get(src, INI_AWS_ACCESS_KEY_ID);
    if (!akid)
        return -ENOKEY;
    const char *secret = ini_profile_get(src, INI_AWS_SECRET_ACCESS_KEY);
    const char *token = ini_profile_get(src, INI_AWS_SESSION_TOKEN);
    if (!secret) {
        set_why(p, "profile '%s' has aws_access_key_id but no aws_secret_access_key", name);
        return -EINVAL;
    }
    if (validate_keys(akid, secret, token) != 0) {
        set_why(p, "profile '%s' holds a malformed key id, secret or session token", name);
        return -EINVAL;
    }
    return plan_static(pl, akid, secret, token, src_names[SRC_SHARED]);
}

static int resolve_profile(struct creds_provider *p, const struct shared_files *f, const char *name,
                           unsigned depth, const char **visited, struct plan *pl)
{
    struct ini_profile cs, fs;
    int r = profile_sections(p, f, name, &cs, &fs);
    if (r != 0)
        return r;
    bool top = depth == 0;
    visited[depth] = name;

    if (!cs.found && !fs.found) {
        if (top && !(p->profile_explicit && strcmp(name, "default") != 0)) {
            r = -ENOKEY;
        } else {
            set_why(p, "profile '%s' is in neither %s nor %s", name,
                    p->credentials_file ? p->credentials_file : "(no credentials file)",
                    p->config_file ? p->config_file : "(no config file)");
            r = -ENOENT;
        }
        goto out;
    }

    const char *role_arn = merged(&cs, &fs, INI_ROLE_ARN);
    const char *wif = merged(&cs, &fs, INI_WEB_IDENTITY_TOKEN_FILE);
    const char *session = merged(&cs, &fs, INI_ROLE_SESSION_NAME);
    if (!session)
        session = p->role_session_name;

    if (role_arn && !wif) {
        const char *sp = merged(&cs, &fs, INI_SOURCE_PROFILE);
        const char *csrc = merged(&cs, &fs, INI_CREDENTIAL_SOURCE);
        if ((sp && csrc) || (!sp && !csrc)) {
            set_why(p,
                    "profile '%s' has role_arn and %s of source_profile and "
                    "credential_source",
                    name, sp ? "both" : "neither");
            r = -EINVAL;
            goto out;
        }
        if (sp && strcmp(sp, name) == 0) {
            /* A profile may be its own source when it holds static keys. */
            r = profile_static(p, pl, name, &cs, &fs);
            if (r == -ENOKEY) {
                set_why(p, "profile '%s' is its own source_profile but has no keys", name);
                r = -EINVAL;
            }
        } else if (sp) {
            for (unsigned i = 0; i <= depth; i++) {
                if (strcmp(visited[i], sp) == 0) {
                    set_why(p, "source_profile loop through profile '%s'", sp);
                    r = -ELOOP;
                    goto out;
                }
            }
            if (depth + 1 >= CREDS_MAX_ROLE_CHAIN) {
                set_why(p, "the source_profile chain is longer than %d profiles",
                        CREDS_MAX_ROLE_CHAIN);
                r = -ELOOP;
                goto out;
            }
            r = resolve_profile(p, f, sp, depth + 1, visited, pl);
        } else if (strcmp(csrc, "Environment") == 0) {
            const char *akid = env(p, ENV_ACCESS_KEY_ID);
            const char *secret = env(p, ENV_SECRET_ACCESS_KEY);
            const char *token = env(p, ENV_SESSION_TOKEN);
            if (!akid || !secret || validate_keys(akid, secret, token) != 0) {
                set_why(p,
                        "profile '%s': credential_source Environment but no valid "
                        "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
                        name);
                r = -EINVAL;
            } else {
                r = plan_static(pl, akid, secret, token, src_names[SRC_ENV]);
            }
        } else if (strcmp(csrc, "Ec2InstanceMetadata") == 0) {
            r = plan_imds(p, pl);
            if (r == -ENOKEY) {
                set_why(p,
                        "profile '%s': credential_source Ec2InstanceMetadata but "
                        "AWS_EC2_METADATA_DISABLED is true",
                        name);
                r = -EINVAL;
            }
        } else if (strcmp(csrc, "EcsContainer") == 0) {
            r = plan_container(p, pl);
            if (r == -ENOKEY) {
                set_why(p,
                        "profile '%s': credential_source EcsContainer but no "
                        "AWS_CONTAINER_CREDENTIALS_* variable",
                        name);
                r = -EINVAL;
            }
        } else {
            set_why(p, "profile '%s': unknown credential_source '%s'", name, csrc);
            r = -EINVAL;
        }
        if (r == 0)
            r = plan_add_step(p, pl, role_arn, session, merged(&cs, &fs, INI_EXTERNAL_ID));
        goto out;
    }
    if (wif) {
        if (!role_arn) {
            set_why(p, "profile '%s' has web_identity_token_file but no role_arn", name);
            r = -EINVAL;
            goto out;
        }
        r = plan_web_identity_file(p, pl, wif, role_arn, session);
        goto out;
    }
    r = profile_static(p, pl, name, &cs, &fs);
    if (r == -ENOKEY) {
        if (merged(&cs, &fs, INI_CREDENTIAL_PROCESS) || merged(&cs, &fs, INI_SSO_START_URL) ||
            merged(&cs, &fs, INI_SSO_SESSION)) {
            set_why(p,
                    "profile '%s' uses credential_process or SSO, which Osprey does not "
                    "support",
                    name);
            r = -ENOTSUP;
        } else if (!top) {
            set_why(p, "source profile '%s' has no credentials", name);
            r = -EINVAL;
        }
    }
out:
    ini_profile_release(&cs);
    ini_profile_release(&fs);
    return r;
}

static int plan_shared(struct creds_provider *p, struct plan *pl)
{
    struct shared_files f;
    memset(&f, 0, sizeof(f));
    shared_load(p, &f);
    const char *visited[CREDS_MAX_ROLE_CHAIN];
    int r = resolve_profile(p, &f, p->profile, 0, visited, pl);
    shared_release(&f);
    return r;
}

static int plan_for(struct creds_provider *p, enum creds_src src, struct plan *pl)
{
    switch (src) {
    case SRC_ENV:
        return plan_env(p, pl);
    case SRC_WEB_IDENTITY:
        return plan_web_identity(p, pl);
    case SRC_SHARED:
        return plan_shared(p, pl);
    case SRC_CONTAINER:
        return plan_container(p, pl);
    case SRC_IMDS:
        return plan_imds(p, pl);
    default:
        return -ENOKEY;
    }
}

/* ---- waiters ------------------------------------------------------------------------------ */

static void append(struct waiter **list, struct waiter *w)
{
    while (*list)
        list = &(*list)->next;
    w->next = NULL;
    *list = w;
}

static void on_notify(uv_timer_t *t)
{
    struct creds_provider *p = t->data;
    struct waiter *w = p->ready;
    p->ready = NULL;
    while (w) {
        struct waiter *next = w->next;
        w->cb(w->data, w->status);
        free(w);
        w = next;
    }
}

static void complete_waiters(struct creds_provider *p, int status)
{
    while (p->waiting) {
        struct waiter *w = p->waiting;
        p->waiting = w->next;
        w->status = status;
        append(&p->ready, w);
    }
    if (p->ready && !p->closing)
        uv_timer_start(&p->notify_timer, on_notify, 0, 0);
}

/* ---- the fetch ------------------------------------------------------------------------------ */

static void fetch_start(struct creds_provider *p);
static void advance(struct creds_provider *p);

static const char *src_name(enum creds_src s)
{
    return s >= 0 && s < SRC_COUNT ? src_names[s] : "chain";
}

static uint64_t next_backoff_ns(struct creds_provider *p)
{
    uint64_t d = retry_backoff_ns(&p->rng, p->backoff_attempt, RETRY_BASE_NS, RETRY_CAP_NS);
    if (p->backoff_attempt < 32)
        p->backoff_attempt++;
    return d < RETRY_MIN_NS ? RETRY_MIN_NS : d;
}

static void on_refresh_timer(uv_timer_t *t)
{
    struct creds_provider *p = t->data;
    if (!p->fetching && !p->closing)
        fetch_start(p);
}

static void arm_refresh(struct creds_provider *p, uint64_t delay_ns)
{
    uv_timer_start(&p->refresh_timer, on_refresh_timer, ns_to_ms_ceil(delay_ns), 0);
}

static void retire_current(struct creds_provider *p)
{
    creds_free(p->retired);
    p->retired = p->current;
    p->current = NULL;
}

/* True when a message from a service quotes one of the secrets in play. */
static bool quotes_secret(const struct creds_provider *p, const char *msg)
{
    const char *secrets[] = {
        p->plan.secret,
        p->plan.token,
        p->plan.wi_token,
        p->plan.auth,
        p->work ? p->work->secret_access_key : NULL,
        p->work ? p->work->session_token : NULL,
        p->current ? p->current->secret_access_key : NULL,
        p->current ? p->current->session_token : NULL,
        p->imds_token,
    };
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (secrets[i] && strlen(secrets[i]) >= 4 && strstr(msg, secrets[i]))
            return true;
    return false;
}

static void fetch_end(struct creds_provider *p)
{
    p->fetching = false;
    p->state = FS_IDLE;
    creds_free(p->work);
    p->work = NULL;
    plan_release(&p->plan);
}

static void fetch_fail(struct creds_provider *p, int err)
{
    if (err == 0)
        err = -EIO;
    if (!p->why[0])
        snprintf(p->why, sizeof(p->why), "%s", strerror(-err));
    enum creds_src src = p->plan_src;
    fetch_end(p);
    p->last_error = err;
    const struct aws_credentials *still = creds_current(p);
    bool retry = p->current != NULL || p->locked != SRC_NONE;
    uint64_t delay = retry ? next_backoff_ns(p) : 0;
    if (still) {
        uint64_t left = still->expiration_ns > clock_realtime_ns()
                            ? (still->expiration_ns - clock_realtime_ns()) / NS_PER_SEC
                            : 0;
        log_complain(&p->complain, LOG_LEVEL_WARN, COMPONENT,
                     "refreshing AWS credentials from %s failed: %s; still using access key "
                     "%s (%llu s left), retrying in %.1f s",
                     src_name(src), p->why, still->access_key_id, (unsigned long long)left,
                     (double)delay / (double)NS_PER_SEC);
    } else {
        log_complain(&p->complain, LOG_LEVEL_ERROR, COMPONENT,
                     "cannot get AWS credentials from %s: %s", src_name(src), p->why);
    }
    if (retry)
        arm_refresh(p, delay);
    complete_waiters(p, still ? 0 : err);
}

static void fetch_succeed(struct creds_provider *p)
{
    struct aws_credentials *c = p->work;
    p->work = NULL;
    bool assumed = p->plan.n_steps > 0;
    c->source = assumed ? "assume-role" : p->plan.base_source;
    enum creds_src src = p->plan_src;
    bool same = p->current && strcmp(p->current->access_key_id, c->access_key_id) == 0;
    bool first = p->locked == SRC_NONE;
    fetch_end(p);
    retire_current(p);
    p->current = c;
    p->locked = src;
    p->last_error = 0;

    uint64_t now = clock_realtime_ns();
    char expiry[64] = "not expiring";
    if (c->expiration_ns) {
        uint64_t left = c->expiration_ns > now ? (c->expiration_ns - now) / NS_PER_SEC : 0;
        snprintf(expiry, sizeof(expiry), "expiring in %llu s", (unsigned long long)left);
    }
    if (p->complain.active)
        log_complain_clear(&p->complain, COMPONENT, "AWS credentials from %s work again",
                           src_name(src));
    if (first || !same)
        log_info(COMPONENT, "%s AWS credentials from %s%s (access key %s), %s",
                 first ? "using" : "refreshed", src_name(src), assumed ? " + AssumeRole" : "",
                 c->access_key_id, expiry);
    else
        log_debug(COMPONENT, "AWS credentials from %s unchanged (access key %s), %s", src_name(src),
                  c->access_key_id, expiry);

    if (c->expiration_ns) {
        if (c->expiration_ns > p->margin_ns && c->expiration_ns - p->margin_ns > now) {
            p->backoff_attempt = 0;
            arm_refresh(p, c->expiration_ns - p->margin_ns - now);
        } else {
            /* Already inside the margin: use them, try again later (no storm). */
            uint64_t delay = next_backoff_ns(p);
            log_debug(COMPONENT,
                      "credentials expire within the refresh margin; next try in "
                      "%.1f s",
                      (double)delay / (double)NS_PER_SEC);
            arm_refresh(p, delay);
        }
    } else {
        p->backoff_attempt = 0;
        uv_timer_stop(&p->refresh_timer);
    }
    complete_waiters(p, 0);
}

static void on_http(const struct http_response *resp, void *data);

static int form_add(struct buf *b, const char *key, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    int r = buf_printf(b, "%s%s=", b->len ? "&" : "", key);
    for (const unsigned char *s = (const unsigned char *)value; r == 0 && *s; s++) {
        unsigned char c = *s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            r = buf_append(b, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            r = buf_append(b, e, 3);
        }
    }
    return r;
}

static void body_wipe(struct creds_provider *p)
{
    if (p->body.data)
        explicit_bzero(p->body.data, p->body.cap);
    buf_reset(&p->body);
}

/* Build and send the request of the current state. */
static int submit(struct creds_provider *p)
{
    char url[4096];
    int n = 0;
    struct http_request req = {.max_response_bytes = MAX_RESPONSE_BYTES};
    struct http_client *client = p->md_http;
    struct sigv4_result sig;
    memset(&sig, 0, sizeof(sig));
    int r = 0;
    char ttl[16];

    req.url = url;
    http_request_add_header(&req, "User-Agent", USER_AGENT);
    switch (p->state) {
    case FS_IMDS_TOKEN:
        req.method = "PUT";
        req.timeout_ms = p->imds_timeout_ms;
        n = snprintf(url, sizeof(url), "%s/latest/api/token", p->imds_url);
        snprintf(ttl, sizeof(ttl), "%u", IMDS_TOKEN_TTL_S);
        http_request_add_header(&req, "X-aws-ec2-metadata-token-ttl-seconds", ttl);
        break;
    case FS_IMDS_ROLE:
    case FS_IMDS_CREDS:
        req.method = "GET";
        req.timeout_ms = p->imds_timeout_ms;
        n = snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/%s",
                     p->imds_url, p->state == FS_IMDS_CREDS ? p->imds_role : "");
        http_request_add_header(&req, "X-aws-ec2-metadata-token", p->imds_token);
        break;
    case FS_CONTAINER:
        req.method = "GET";
        req.timeout_ms = p->imds_timeout_ms > CONTAINER_MIN_TIMEOUT_MS ? p->imds_timeout_ms
                                                                       : CONTAINER_MIN_TIMEOUT_MS;
        n = snprintf(url, sizeof(url), "%s", p->plan.url);
        http_request_add_header(&req, "Accept", "application/json");
        if (p->plan.auth)
            http_request_add_header(&req, "Authorization", p->plan.auth);
        break;
    case FS_WEB_IDENTITY:
    case FS_ASSUME_ROLE: {
        client = p->sts_http;
        req.method = "POST";
        req.timeout_ms = STS_TIMEOUT_MS;
        n = snprintf(url, sizeof(url), "%s/", p->sts.url);
        body_wipe(p);
        if (p->state == FS_WEB_IDENTITY) {
            r = form_add(&p->body, "Action", "AssumeRoleWithWebIdentity");
            if (r == 0)
                r = form_add(&p->body, "Version", "2011-06-15");
            if (r == 0)
                r = form_add(&p->body, "RoleArn", p->plan.wi_role_arn);
            if (r == 0)
                r = form_add(&p->body, "RoleSessionName", p->plan.wi_session);
            if (r == 0)
                r = form_add(&p->body, "WebIdentityToken", p->plan.wi_token);
        } else {
            const struct role_step *s = &p->plan.steps[p->step];
            r = form_add(&p->body, "Action", "AssumeRole");
            if (r == 0)
                r = form_add(&p->body, "Version", "2011-06-15");
            if (r == 0)
                r = form_add(&p->body, "RoleArn", s->role_arn);
            if (r == 0)
                r = form_add(&p->body, "RoleSessionName", s->session_name);
            if (r == 0 && s->external_id)
                r = form_add(&p->body, "ExternalId", s->external_id);
        }
        if (r != 0)
            goto out;
        req.body = p->body.data;
        req.body_len = p->body.len;
        http_request_add_header(&req, "Host", p->sts.host);
        http_request_add_header(&req, "Content-Type", FORM_CONTENT_TYPE);
        if (p->state == FS_ASSUME_ROLE) {
            struct sigv4_header h[2] = {{"Host", p->sts.host}, {"Content-Type", FORM_CONTENT_TYPE}};
            struct sigv4_request sreq = {
                .method = "POST",
                .path = "/",
                .headers = h,
                .header_count = 2,
                .body = p->body.data,
                .body_len = p->body.len,
            };
            struct sigv4_credentials sc = {p->work->access_key_id, p->work->secret_access_key,
                                           p->work->session_token};
            r = sigv4_sign(&sreq, &sc, p->signing_region, "sts",
                           (int64_t)(clock_realtime_ns() / NS_PER_SEC), SIGV4_FLAGS_DEFAULT, &sig);
            if (r != 0)
                goto out;
            http_request_add_header(&req, "X-Amz-Date", sig.amz_date);
            if (sig.security_token)
                http_request_add_header(&req, "X-Amz-Security-Token", sig.security_token);
            http_request_add_header(&req, "Authorization", sig.authorization);
        }
        break;
    }
    default:
        return -EINVAL;
    }
    if (n < 0 || (size_t)n >= sizeof(url)) {
        r = -ENAMETOOLONG;
        goto out;
    }
    r = http_submit(client, &req, on_http, p);
    if (r == 0)
        p->in_flight = true;
out:
    sigv4_result_release(&sig);
    return r;
}

/* Start the request of `state` afresh (attempt 0). */
static void go(struct creds_provider *p, enum fetch_state state)
{
    p->state = state;
    p->attempt = 0;
    int r = submit(p);
    if (r != 0) {
        set_why(p, "cannot send the request: %s", strerror(-r));
        fetch_fail(p, r);
    }
}

static void advance(struct creds_provider *p)
{
    if (p->step < p->plan.n_steps) {
        go(p, FS_ASSUME_ROLE);
        return;
    }
    fetch_succeed(p);
}

static void run_base(struct creds_provider *p)
{
    switch (p->plan.base) {
    case BASE_STATIC:
        p->work = creds_new(p->plan.akid, p->plan.secret, p->plan.token, 0);
        if (!p->work) {
            fetch_fail(p, -ENOMEM);
            return;
        }
        advance(p);
        return;
    case BASE_WEB_IDENTITY:
        go(p, FS_WEB_IDENTITY);
        return;
    case BASE_CONTAINER:
        go(p, FS_CONTAINER);
        return;
    case BASE_IMDS:
        if (p->imds_token && clock_monotonic_ns() < p->imds_token_expiry_mono_ns)
            go(p, FS_IMDS_ROLE);
        else
            go(p, FS_IMDS_TOKEN);
        return;
    }
}

static void fetch_start(struct creds_provider *p)
{
    uv_timer_stop(&p->refresh_timer);
    p->fetching = true;
    p->step = 0;
    p->attempt = 0;
    p->retoken_done = false;
    p->why[0] = '\0';
    creds_free(p->work);
    p->work = NULL;
    plan_release(&p->plan);

    int r;
    enum creds_src src;
    if (p->locked != SRC_NONE) {
        src = p->locked;
        r = plan_for(p, src, &p->plan);
        if (r == -ENOKEY && !p->why[0])
            set_why(p, "the %s source is no longer configured", src_name(src));
    } else {
        r = -ENOKEY;
        for (src = SRC_ENV; src < SRC_COUNT; src++) {
            r = plan_for(p, src, &p->plan);
            if (r != -ENOKEY)
                break;
            plan_release(&p->plan);
        }
        if (r == -ENOKEY) {
            src = SRC_NONE;
            set_why(p, "no credentials source is configured (environment, web identity, "
                       "shared files, container) and IMDS is disabled");
        }
    }
    p->plan_src = src;
    if (r == 0 && p->role_arn)
        r = plan_add_step(p, &p->plan, p->role_arn, p->role_session_name, NULL);
    if (r != 0) {
        fetch_fail(p, r);
        return;
    }
    run_base(p);
}

static bool transient(const struct http_response *resp, const struct aws_error *err)
{
    if (resp->error)
        return resp->error != -ECANCELED;
    if (resp->status >= 500 || resp->status == 429)
        return true;
    return err && err->code[0] &&
           (aws_error_is_throttling(err->code) || strcmp(err->code, "IDPCommunicationError") == 0);
}

static unsigned max_attempts(const struct creds_provider *p)
{
    switch (p->state) {
    case FS_IMDS_TOKEN:
    case FS_IMDS_ROLE:
    case FS_IMDS_CREDS:
        return p->imds_attempts;
    case FS_CONTAINER:
        return CONTAINER_ATTEMPTS;
    default:
        return STS_ATTEMPTS;
    }
}

static const char *state_name(enum fetch_state s)
{
    switch (s) {
    case FS_IMDS_TOKEN:
        return "IMDS token";
    case FS_IMDS_ROLE:
        return "IMDS role name";
    case FS_IMDS_CREDS:
        return "IMDS role credentials";
    case FS_CONTAINER:
        return "container credentials endpoint";
    case FS_WEB_IDENTITY:
        return "STS AssumeRoleWithWebIdentity";
    case FS_ASSUME_ROLE:
        return "STS AssumeRole";
    default:
        return "fetch";
    }
}

static int sts_error(struct creds_provider *p, const struct http_response *resp,
                     const struct aws_error *err)
{
    const char *msg = err->message;
    if (msg[0] && quotes_secret(p, msg))
        msg = "(message withheld: it quotes a secret)";
    set_why(p, "%s: HTTP %ld %s%s%s", state_name(p->state), resp->status,
            err->code[0] ? err->code : "(no error code)", msg[0] ? ": " : "", msg);
    if (resp->status >= 500 || resp->status == 429 || aws_error_is_throttling(err->code) ||
        strcmp(err->code, "IDPCommunicationError") == 0)
        return -EAGAIN;
    if (strcmp(err->code, "ValidationError") == 0 ||
        strcmp(err->code, "MalformedPolicyDocument") == 0)
        return -EINVAL;
    if (resp->status == 400 || resp->status == 401 || resp->status == 403)
        return -EACCES;
    return -EPROTO;
}

static void on_imds_token(struct creds_provider *p, const struct http_response *resp)
{
    if (resp->status != 200) {
        int err = resp->status == 403                          ? -EACCES
                  : resp->status == 404 || resp->status == 405 ? -ENOTSUP
                  : resp->status == 400                        ? -EINVAL
                  : resp->status >= 500 || resp->status == 429 ? -EAGAIN
                                                               : -EPROTO;
        set_why(p, "IMDS token: HTTP %ld%s", resp->status,
                err == -ENOTSUP ? " (IMDSv2 unavailable; IMDSv1 is not used)" : "");
        fetch_fail(p, err);
        return;
    }
    const char *b = (const char *)resp->body;
    size_t n = resp->body_len;
    while (n && (b[n - 1] == '\n' || b[n - 1] == '\r' || b[n - 1] == ' '))
        n--;
    char *token = dup_n(b, n);
    if (!token) {
        fetch_fail(p, -ENOMEM);
        return;
    }
    if (!printable(token, 4096)) {
        wipe_free(token);
        set_why(p, "IMDS token: malformed answer");
        fetch_fail(p, -EBADMSG);
        return;
    }
    wipe_free(p->imds_token);
    p->imds_token = token;
    p->imds_token_expiry_mono_ns =
        clock_monotonic_ns() + (uint64_t)IMDS_TOKEN_TTL_S * NS_PER_SEC - IMDS_TOKEN_EARLY_NS;
    go(p, FS_IMDS_ROLE);
}

/* 401 from an IMDS GET: the token expired or was revoked; get a new one, once. */
static bool imds_retoken(struct creds_provider *p, const struct http_response *resp)
{
    if (resp->status != 401 || p->retoken_done)
        return false;
    p->retoken_done = true;
    wipe_free(p->imds_token);
    p->imds_token = NULL;
    log_debug(COMPONENT, "IMDS answered 401 to %s, getting a new token", state_name(p->state));
    go(p, FS_IMDS_TOKEN);
    return true;
}

static bool valid_role_name(const char *s, size_t n)
{
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              strchr("+=,.@_-", c)))
            return false;
    }
    return true;
}

static void on_imds_role(struct creds_provider *p, const struct http_response *resp)
{
    if (imds_retoken(p, resp))
        return;
    if (resp->status != 200) {
        int err = resp->status == 404   ? -ENOKEY
                  : resp->status == 401 ? -EACCES
                  : resp->status >= 500 ? -EAGAIN
                                        : -EPROTO;
        set_why(p, "IMDS role name: HTTP %ld%s", resp->status,
                resp->status == 404 ? " (no IAM role attached to the instance)" : "");
        fetch_fail(p, err);
        return;
    }
    const char *b = (const char *)resp->body;
    size_t n = strcspn(b, "\r\n"); /* the first line: the instance has one role */
    if (n > resp->body_len)
        n = resp->body_len;
    while (n && b[n - 1] == ' ')
        n--;
    if (!valid_role_name(b, n)) {
        set_why(p, "IMDS role name: malformed answer");
        fetch_fail(p, -EBADMSG);
        return;
    }
    free(p->imds_role);
    p->imds_role = dup_n(b, n);
    if (!p->imds_role) {
        fetch_fail(p, -ENOMEM);
        return;
    }
    go(p, FS_IMDS_CREDS);
}

static void on_json_creds(struct creds_provider *p, const struct http_response *resp, bool imds)
{
    if (imds && imds_retoken(p, resp))
        return;
    if (resp->status != 200) {
        int err = resp->status == 401 || resp->status == 403   ? -EACCES
                  : resp->status == 404                        ? -ENOENT
                  : resp->status >= 500 || resp->status == 429 ? -EAGAIN
                                                               : -EPROTO;
        set_why(p, "%s: HTTP %ld", state_name(p->state), resp->status);
        fetch_fail(p, err);
        return;
    }
    char why[200];
    struct aws_credentials *c = NULL;
    int r = parse_json_creds(resp, imds, &c, why, sizeof(why));
    if (r != 0) {
        set_why(p, "%s: %s", state_name(p->state), why);
        fetch_fail(p, r);
        return;
    }
    creds_free(p->work);
    p->work = c;
    advance(p);
}

static void on_sts(struct creds_provider *p, const struct http_response *resp,
                   const struct aws_error *err)
{
    if (resp->status != 200) {
        fetch_fail(p, sts_error(p, resp, err));
        return;
    }
    char why[200];
    struct aws_credentials *c = NULL;
    int r = parse_sts_creds(resp, &c, why, sizeof(why));
    if (r != 0) {
        set_why(p, "%s: %s", state_name(p->state), why);
        fetch_fail(p, r);
        return;
    }
    if (p->state == FS_ASSUME_ROLE)
        p->step++;
    creds_free(p->work);
    p->work = c;
    advance(p);
}

static void on_http(const struct http_response *resp, void *data)
{
    struct creds_provider *p = data;
    p->in_flight = false;
    body_wipe(p);
    if (p->closing || !p->fetching)
        return; /* cancelled by close */

    bool sts = p->state == FS_WEB_IDENTITY || p->state == FS_ASSUME_ROLE;
    struct aws_error err;
    memset(&err, 0, sizeof(err));
    if (sts && !resp->error && resp->status != 200)
        aws_error_parse(resp, AWS_PROTOCOL_QUERY, &err);

    if (transient(resp, sts ? &err : NULL) && p->attempt + 1 < max_attempts(p)) {
        p->attempt++;
        log_debug(COMPONENT, "%s: %s, retrying", state_name(p->state),
                  resp->error ? resp->error_text : "transient error");
        int r = submit(p);
        if (r == 0)
            return;
        set_why(p, "cannot send the request: %s", strerror(-r));
        fetch_fail(p, r);
        return;
    }
    if (resp->error) {
        set_why(p, "%s: %s", state_name(p->state), resp->error_text);
        fetch_fail(p, resp->error);
        return;
    }
    switch (p->state) {
    case FS_IMDS_TOKEN:
        on_imds_token(p, resp);
        return;
    case FS_IMDS_ROLE:
        on_imds_role(p, resp);
        return;
    case FS_IMDS_CREDS:
        on_json_creds(p, resp, true);
        return;
    case FS_CONTAINER:
        on_json_creds(p, resp, false);
        return;
    case FS_WEB_IDENTITY:
    case FS_ASSUME_ROLE:
        on_sts(p, resp, &err);
        return;
    default:
        return;
    }
}

/* ---- public API --------------------------------------------------------------------------------
 */

static void provider_free(struct creds_provider *p)
{
    plan_release(&p->plan);
    creds_free(p->work);
    creds_free(p->current);
    creds_free(p->retired);
    body_wipe(p);
    buf_release(&p->body);
    wipe_free(p->imds_token);
    free(p->imds_role);
    free(p->region);
    free(p->signing_region);
    free(p->role_arn);
    free(p->role_session_name);
    free(p->profile);
    free(p->credentials_file);
    free(p->config_file);
    free(p->imds_url);
    free(p->ecs_url);
    for (size_t i = 0; i < ENV_COUNT; i++)
        wipe_free(p->env[i]);
    free(p);
}

/* "~/x" with HOME, or a copy of path. */
static int expand_path(const struct creds_provider *p, const char *path, const char *dflt,
                       char **ret)
{
    *ret = NULL;
    const char *home = env(p, ENV_HOME);
    if (!path || !path[0]) {
        if (!home)
            return 0;
        path = dflt;
    }
    if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
        if (!home)
            return 0;
        size_t n = strlen(home) + strlen(path);
        *ret = malloc(n);
        if (!*ret)
            return -ENOMEM;
        snprintf(*ret, n, "%s%s", home, path + 1);
        return 0;
    }
    return dup_opt(ret, path);
}

static int strip_slash_dup(char **dst, const char *src)
{
    int r = dup_opt(dst, src);
    if (r == 0 && *dst) {
        size_t n = strlen(*dst);
        while (n > 0 && (*dst)[n - 1] == '/')
            (*dst)[--n] = '\0';
    }
    return r;
}

static const char *process_getenv(const char *name)
{
    return getenv(name);
}

static int configure(struct creds_provider *p, const struct creds_options *o)
{
    const char *(*get)(const char *) = o->getenv ? o->getenv : process_getenv;
    for (size_t i = 0; i < ENV_COUNT; i++)
        if (dup_opt(&p->env[i], get(env_names[i])))
            return -ENOMEM;

    const char *region = o->region && o->region[0] ? o->region : env(p, ENV_REGION);
    if (!region)
        region = env(p, ENV_DEFAULT_REGION);
    if (dup_opt(&p->region, region) ||
        dup_opt(&p->signing_region, region ? region : DEFAULT_SIGNING_REGION) ||
        dup_opt(&p->role_arn, o->role_arn) ||
        dup_opt(&p->role_session_name, o->role_session_name && o->role_session_name[0]
                                           ? o->role_session_name
                                           : DEFAULT_ROLE_SESSION_NAME))
        return -ENOMEM;

    const char *profile = NULL;
    if (o->profile && o->profile[0]) {
        profile = o->profile;
        p->profile_from_option = true;
    } else if (env(p, ENV_PROFILE)) {
        profile = env(p, ENV_PROFILE);
    } else {
        profile = env(p, ENV_DEFAULT_PROFILE);
    }
    p->profile_explicit = profile != NULL;
    if (dup_opt(&p->profile, profile ? profile : "default"))
        return -ENOMEM;

    int r = expand_path(p,
                        o->shared_credentials_file && o->shared_credentials_file[0]
                            ? o->shared_credentials_file
                            : env(p, ENV_SHARED_CREDENTIALS_FILE),
                        "~/.aws/credentials", &p->credentials_file);
    if (r == 0)
        r = expand_path(p,
                        o->shared_config_file && o->shared_config_file[0] ? o->shared_config_file
                                                                          : env(p, ENV_CONFIG_FILE),
                        "~/.aws/config", &p->config_file);
    if (r != 0)
        return r;

    const char *imds = o->imds_endpoint && o->imds_endpoint[0] ? o->imds_endpoint
                                                               : env(p, ENV_EC2_METADATA_ENDPOINT);
    if (!imds) {
        const char *mode = env(p, ENV_EC2_METADATA_ENDPOINT_MODE);
        imds = mode && strcasecmp(mode, "IPv6") == 0 ? DEFAULT_IMDS_ENDPOINT_IPV6
                                                     : DEFAULT_IMDS_ENDPOINT;
    }
    if (strip_slash_dup(&p->imds_url, imds) ||
        strip_slash_dup(&p->ecs_url, o->ecs_endpoint && o->ecs_endpoint[0] ? o->ecs_endpoint
                                                                           : DEFAULT_ECS_ENDPOINT))
        return -ENOMEM;

    if (o->sts_endpoint && o->sts_endpoint[0])
        r = aws_endpoint_resolve(o->sts_endpoint, "sts", p->region, &p->sts);
    else if (p->region)
        r = aws_endpoint_resolve(NULL, "sts", p->region, &p->sts);
    else
        r = aws_endpoint_resolve("https://sts.amazonaws.com", "sts", NULL, &p->sts);
    if (r != 0)
        return -EINVAL;

    p->imds_timeout_ms = o->imds_timeout_ms;
    if (!p->imds_timeout_ms && env(p, ENV_METADATA_TIMEOUT)) {
        double s = strtod(env(p, ENV_METADATA_TIMEOUT), NULL);
        if (s > 0 && s < 3600)
            p->imds_timeout_ms = (uint64_t)(s * 1000.0);
    }
    if (!p->imds_timeout_ms)
        p->imds_timeout_ms = DEFAULT_IMDS_TIMEOUT_MS;
    p->imds_attempts = DEFAULT_IMDS_ATTEMPTS;
    if (env(p, ENV_METADATA_ATTEMPTS)) {
        long a = strtol(env(p, ENV_METADATA_ATTEMPTS), NULL, 10);
        if (a >= 1 && a <= 10)
            p->imds_attempts = (unsigned)a;
    }
    p->margin_ns = o->refresh_margin_ns ? o->refresh_margin_ns : DEFAULT_MARGIN_NS;
    p->grace_ns = p->margin_ns / 2 < MAX_GRACE_NS ? p->margin_ns / 2 : MAX_GRACE_NS;
    return 0;
}

static void on_part_closed(void *data)
{
    struct creds_provider *p = data;
    if (--p->open_parts > 0)
        return;
    void (*cb)(void *) = p->on_closed;
    void *cb_data = p->on_closed_data;
    provider_free(p);
    if (cb)
        cb(cb_data);
}

static void on_timer_closed(uv_handle_t *h)
{
    on_part_closed(h->data);
}

static void noop_closed(void *data)
{
    (void)data;
}

int creds_provider_create(uv_loop_t *loop, const struct creds_options *o,
                          struct creds_provider **ret)
{
    if (!loop || !o || !ret)
        return -EINVAL;
    struct creds_provider *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->loop = loop;
    p->locked = SRC_NONE;
    p->plan_src = SRC_NONE;
    buf_init(&p->body, MAX_BODY_BYTES);
    int r = configure(p, o);
    if (r != 0)
        goto out_free;

    struct http_client_options ho;
    http_client_options_default(&ho);
    ho.proxy = ""; /* metadata endpoints are link-local: never through a proxy */
    ho.connect_timeout_ms = p->imds_timeout_ms;
    ho.max_connections = 2;
    r = http_client_create(loop, &ho, &p->md_http);
    if (r != 0)
        goto out_free;
    http_client_options_default(&ho);
    ho.max_connections = 2;
    r = http_client_create(loop, &ho, &p->sts_http);
    if (r != 0)
        goto out_md;

    uv_timer_init(loop, &p->refresh_timer);
    uv_timer_init(loop, &p->notify_timer);
    p->refresh_timer.data = p;
    p->notify_timer.data = p;
    retry_rng_seed(&p->rng, clock_monotonic_ns() ^ (uint64_t)(uintptr_t)p);

    *ret = p;
    fetch_start(p); /* static credentials are ready on return; the rest is on its way */
    return 0;

out_md:
    http_client_close(p->md_http, noop_closed, NULL);
out_free:
    provider_free(p);
    return r;
}

const struct aws_credentials *creds_current(struct creds_provider *p)
{
    if (!p || p->closing || !p->current)
        return NULL;
    const struct aws_credentials *c = p->current;
    if (c->expiration_ns == 0)
        return c;
    uint64_t now = clock_realtime_ns();
    return c->expiration_ns > now && c->expiration_ns - now > p->grace_ns ? c : NULL;
}

int creds_wait(struct creds_provider *p, void (*cb)(void *data, int status), void *data)
{
    if (!p || !cb)
        return -EINVAL;
    if (p->closing)
        return -ESHUTDOWN;
    struct waiter *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->cb = cb;
    w->data = data;
    if (p->fetching) {
        append(&p->waiting, w);
        return 0;
    }
    if (creds_current(p)) {
        w->status = 0;
        append(&p->ready, w);
        uv_timer_start(&p->notify_timer, on_notify, 0, 0);
        return 0;
    }
    append(&p->waiting, w);
    fetch_start(p);
    return 0;
}

size_t creds_wait_cancel(struct creds_provider *p, void (*cb)(void *data, int status), void *data)
{
    if (!p)
        return 0;
    size_t n = 0;
    struct waiter **lists[2] = {&p->waiting, &p->ready};
    for (size_t i = 0; i < 2; i++) {
        for (struct waiter **w = lists[i]; *w;) {
            if ((*w)->cb == cb && (*w)->data == data) {
                struct waiter *gone = *w;
                *w = gone->next;
                free(gone);
                n++;
            } else {
                w = &(*w)->next;
            }
        }
    }
    return n;
}

void creds_invalidate(struct creds_provider *p)
{
    if (!p || p->closing || !p->current)
        return;
    log_info(COMPONENT, "AWS credentials (access key %s) invalidated", p->current->access_key_id);
    retire_current(p);
}

void creds_provider_close(struct creds_provider *p, void (*on_closed)(void *data), void *data)
{
    if (!p)
        return;
    if (p->closing)
        return;
    p->closing = true;
    p->on_closed = on_closed;
    p->on_closed_data = data;
    p->open_parts = 4;
    uv_timer_stop(&p->refresh_timer);
    uv_timer_stop(&p->notify_timer);
    /* Requests in flight come back to on_http with -ECANCELED, which ignores them. */
    http_client_close(p->md_http, on_part_closed, p);
    http_client_close(p->sts_http, on_part_closed, p);
    p->md_http = NULL;
    p->sts_http = NULL;
    if (p->fetching)
        fetch_end(p);
    struct waiter *lists[2] = {p->waiting, p->ready};
    p->waiting = NULL;
    p->ready = NULL;
    for (size_t i = 0; i < 2; i++) {
        for (struct waiter *w = lists[i]; w;) {
            struct waiter *next = w->next;
            w->cb(w->data, -ECANCELED);
            free(w);
            w = next;
        }
    }
    uv_close((uv_handle_t *)&p->refresh_timer, on_timer_closed);
    uv_close((uv_handle_t *)&p->notify_timer, on_timer_closed);
}
