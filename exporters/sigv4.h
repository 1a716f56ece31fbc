/*
 * sigv4: AWS Signature Version 4 (AWS4-HMAC-SHA256) request signer.
 *
 * Contract
 * - Pure: sigv4_sign() is a function of (request, credentials, region, service, time,
 *   flags) only. No I/O, no logging, no clock, no global state; it may be called from
 *   any thread, concurrently. OpenSSL (SHA-256 and HMAC) is the only dependency.
 * - Everything passed in is borrowed for the duration of the call. On success the
 *   result owns its strings (malloc'd); sigv4_result_release() frees them. On failure
 *   *ret is left untouched and nothing needs to be released.
 * - Errors: 0, or -EINVAL (bad argument, invalid header name, missing Host header,
 *   reserved header supplied by the caller, time out of range, unknown flag),
 *   -E2BIG (a limit below was hit), -ENOMEM, -EIO (OpenSSL failed).
 * - Secrets: the secret access key is only ever used as HMAC key material; it never
 *   appears in any output, and every derived key is wiped before return. The session
 *   token is not secret in that sense (it travels in a header or the query) and is
 *   copied into the result.
 * - Limits: SIGV4_MAX_HEADERS caller headers, SIGV4_MAX_OUTPUT_BYTES per produced
 *   string, SIGV4_MAX_SECRET_BYTES of secret key.
 *
 * Canonicalisation follows the AWS SigV4 specification and reproduces the aws-c-auth
 * signing test suite (tests/data/sigv4/v4):
 * - path: `req->path` is the path as sent on the wire (already percent-encoded). With
 *   SIGV4_NORMALIZE_PATH dot segments are removed and repeated slashes collapsed (the
 *   result ends in '/' only when the path did, as in botocore and aws-c-auth). With
 * SIGV4_DOUBLE_ENCODE_PATH every byte other than the RFC 3986 unreserved set and '/' is
 * percent-encoded again ('%' becomes "%25"), which is what every service but S3 expects. Without it
 * (S3) the path is encoded once: valid escapes are kept (upper-cased, unreserved ones decoded),
 * other bytes encoded. An empty path is "/".
 * - query: split on '&', each item at its first '=' (a missing value is empty); keys and
 *   values are percent-decoded then re-encoded with the unreserved set ('+' stays a
 *   literal plus, i.e. "%2B"); sorted by encoded key, then encoded value.
 * - headers: names lower-cased and sorted; values trimmed, every run of whitespace
 *   (SP, HT, CR, LF: this also folds multi-line values) collapsed to one space;
 *   repeated names joined with ',' in the caller's order. Hop-by-hop and
 *   proxy-rewritten headers are never signed, as in botocore: connection, expect,
 *   keep-alive, proxy-authenticate, proxy-authorization, te, trailer,
 *   transfer-encoding, upgrade, user-agent, x-amzn-trace-id. The signer adds
 *   x-amz-date, x-amz-security-token and x-amz-content-sha256 itself, so passing any
 *   of those (or authorization) is -EINVAL; the one exception is x-amz-content-sha256
 *   without SIGV4_ADD_CONTENT_SHA256, which is signed like any other header.
 *
 * Using the result (header signing): send every header of the request plus
 *   X-Amz-Date: result.amz_date
 *   X-Amz-Security-Token: result.security_token       (when not NULL)
 *   X-Amz-Content-Sha256: result.payload_hash         (when SIGV4_ADD_CONTENT_SHA256)
 *   Authorization: result.authorization
 * With SIGV4_PRESIGN the request is signed in the query instead: append
 * result.presigned_query to the query string (after '&' if there is one); no header
 * is added and result.authorization and result.security_token are NULL. The caller's
 * query must not already hold X-Amz-Algorithm, -Credential, -Date, -Expires,
 * -SignedHeaders, -Security-Token or -Signature (-EINVAL).
 */
#ifndef OSPREY_SIGV4_H
#define OSPREY_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
/* "YYYYMMDDTHHMMSSZ" */
#define SIGV4_AMZ_DATE_LEN 16
/* Lower-case hex of a SHA-256 digest. */
#define SIGV4_HEX_SHA256_LEN 64
/* A caller-supplied payload hash ("UNSIGNED-PAYLOAD", "STREAMING-…") is at most this. */
#define SIGV4_PAYLOAD_HASH_MAX 64
/* Hex SHA-256 of the empty string. */
#define SIGV4_EMPTY_PAYLOAD_SHA256                                                                 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* Unsigned payload marker accepted by S3. */
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

#define SIGV4_MAX_HEADERS      128
#define SIGV4_MAX_OUTPUT_BYTES (1024 * 1024)
#define SIGV4_MAX_SECRET_BYTES 1024
/* Longest validity of a presigned request (7 days). */
#define SIGV4_MAX_EXPIRES_SECONDS 604800u

enum sigv4_flag {
    /* Add and sign x-amz-content-sha256 (S3 needs it). Not with SIGV4_PRESIGN. */
    SIGV4_ADD_CONTENT_SHA256 = 1u << 0,
    /* Remove dot segments and collapse repeated slashes (every service but S3). */
    SIGV4_NORMALIZE_PATH = 1u << 1,
    /* Encode the (already encoded) wire path once more (every service but S3). */
    SIGV4_DOUBLE_ENCODE_PATH = 1u << 2,
    /* Include the session token in what is signed. Without it the token is still
     * returned, to be added after signing (the "post-sts-header-after" variant). */
    SIGV4_SIGN_SESSION_TOKEN = 1u << 3,
    /* Sign in the query string (presigned URL) instead of the Authorization header. */
    SIGV4_PRESIGN = 1u << 4,
    SIGV4_FLAG_ALL = (1u << 5) - 1,
};

/* What every non-S3 service (CloudWatch, Logs, X-Ray, STS, SNS) expects. */
#define SIGV4_FLAGS_DEFAULT                                                                        \
    (SIGV4_NORMALIZE_PATH | SIGV4_DOUBLE_ENCODE_PATH | SIGV4_SIGN_SESSION_TOKEN)
/* S3: no normalisation, single encoding, x-amz-content-sha256. */
#define SIGV4_FLAGS_S3 (SIGV4_ADD_CONTENT_SHA256 | SIGV4_SIGN_SESSION_TOKEN)

/* One request header, NUL-terminated name and value, both borrowed. */
struct sigv4_header {
    const char *name;
    const char *value;
};

struct sigv4_request {
    const char *method;                 /* "GET", "POST"…: an HTTP token, required */
    const char *path;                   /* wire path, e.g. "/TraceSegments"; NULL or "" means "/" */
    const char *query;                  /* wire query without the '?'; NULL or "" means none */
    const struct sigv4_header *headers; /* must include Host */
    size_t header_count;
    /* The payload: either the exact bytes sent (after compression)… */
    const void *body; /* may be NULL when body_len is 0 */
    size_t body_len;
    /* …or, when not NULL, the payload hash to use instead of hashing `body`: a lower-case
     * hex SHA-256 or a marker such as SIGV4_UNSIGNED_PAYLOAD ([A-Za-z0-9-], at most
     * SIGV4_PAYLOAD_HASH_MAX characters). */
    const char *payload_hash;
    /* SIGV4_PRESIGN only: X-Amz-Expires, 1..SIGV4_MAX_EXPIRES_SECONDS. */
    uint32_t expires_seconds;
};

struct sigv4_credentials {
    const char *access_key_id;     /* required; [A-Za-z0-9._-] */
    const char *secret_access_key; /* required; HMAC key material only */
    const char *session_token;     /* NULL or "" when there is none */
};

/* Output of sigv4_sign(). Zero-initialise or leave to sigv4_sign(); release with
 * sigv4_result_release(). */
struct sigv4_result {
    char amz_date[SIGV4_AMZ_DATE_LEN + 1];         /* X-Amz-Date value */
    char payload_hash[SIGV4_PAYLOAD_HASH_MAX + 1]; /* hash signed; X-Amz-Content-Sha256 */
    char signature[SIGV4_HEX_SHA256_LEN + 1];      /* lower-case hex */
    char *authorization;     /* Authorization header value; NULL with SIGV4_PRESIGN */
    char *security_token;    /* X-Amz-Security-Token value to send, or NULL */
    char *presigned_query;   /* SIGV4_PRESIGN: "X-Amz-Algorithm=…&X-Amz-Signature=…" */
    char *signed_headers;    /* "host;x-amz-date" */
    char *canonical_request; /* for tests and debugging */
    char *string_to_sign;    /* for tests and debugging */
};

/*
 * Sign `req` for `service` in `region` at `epoch_seconds` (UTC seconds since 1970,
 * 0..253402300799, i.e. up to year 9999) with `creds`. `flags` is a mask of enum
 * sigv4_flag (usually SIGV4_FLAGS_DEFAULT). `region` and `service` are non-empty
 * [A-Za-z0-9._-] strings. On success fills *ret (which it overwrites without
 * releasing) and returns 0; see the contract above for errors.
 */
int sigv4_sign(const struct sigv4_request *req, const struct sigv4_credentials *creds,
               const char *region, const char *service, int64_t epoch_seconds, unsigned flags,
               struct sigv4_result *ret);

/* Free the result's strings and zero it. NULL-safe; safe on a zeroed or released result. */
void sigv4_result_release(struct sigv4_result *r);

#endif
