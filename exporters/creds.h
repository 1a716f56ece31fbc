/*
 * creds: the AWS credentials provider chain, asynchronous on the export loop.
 *
 * Order (the SDKs' default chain):
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *   2. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME)
 *      through STS AssumeRoleWithWebIdentity (unsigned)
 *   3. shared files: ~/.aws/credentials and ~/.aws/config (AWS_SHARED_CREDENTIALS_FILE,
 *      AWS_CONFIG_FILE), profile AWS_PROFILE or "default"
 *   4. container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on 169.254.170.2) or
 *      AWS_CONTAINER_CREDENTIALS_FULL_URI, with AWS_CONTAINER_AUTHORIZATION_TOKEN or
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
 *   5. EC2 instance metadata, IMDSv2 (token, then the instance role's credentials), unless
 *      AWS_EC2_METADATA_DISABLED=true
 * then, when role_arn is configured, STS AssumeRole signed with what the chain found.
 *
 * Contract
 * - Created, used and closed on one loop (the export loop). The environment is read at
 *   creation (creds_options.getenv lets tests inject it); the shared files and token files
 *   are read (synchronously, they are small local files) at every fetch. Creation starts
 *   the first fetch, so static credentials are usable as soon as it returns.
 * - creds_current() returns the current credentials while they are valid for more than
 *   the expiry grace, min(30 s, refresh margin / 2), or NULL. Temporary credentials are
 *   refreshed at (expiration - refresh margin) by a timer while the old ones keep being
 *   returned, so sends are never blocked by a refresh. A failed refresh is retried with
 *   capped full-jitter backoff (1 s .. 60 s) and the old credentials are served until
 *   they reach the grace. Credentials that arrive already inside the margin are used and
 *   refreshed again after a backoff delay (no refresh storm). Use the returned pointer
 *   right away (to sign one request); it stays valid until the credentials change twice
 *   more (a refresh or creds_invalidate() keeps the previous generation alive) or close.
 * - Requests: each is retried once at once on a transport error, 5xx, 429 or throttling
 *   (IMDS: AWS_METADATA_SERVICE_NUM_ATTEMPTS attempts, default 2); an IMDS 401 gets a
 *   new token once (the token is cached for its 6 h TTL). Timeouts: IMDS imds_timeout_ms
 *   (or AWS_METADATA_SERVICE_TIMEOUT), container max(2 s, that), STS 10 s. IMDSv1 is
 *   never used (a token PUT answered 404/405 is -ENOTSUP, 403 -EACCES). IMDS and the
 *   container endpoint are reached without a proxy; STS through the environment's.
 * - Region: creds_options.region > AWS_REGION > AWS_DEFAULT_REGION; it picks the STS
 *   endpoint and signing region. Without one, STS is https://sts.amazonaws.com signed
 *   for us-east-1.
 * - creds_wait() calls `cb` once, when a fetch in progress (or one it starts) ends, with 0
 *   (credentials are available) or a negative errno; the callback never runs inside
 *   creds_wait itself. When usable credentials exist and nothing is being fetched, cb
 *   runs on the next loop iteration with 0. Errors: -ESHUTDOWN (closing), -EINVAL,
 *   -ENOMEM; then cb is never called.
 * - creds_invalidate() drops the current credentials (the service said they expired);
 *   the next creds_wait() fetches again.
 * - creds_provider_close() cancels the HTTP requests in flight, calls every pending
 *   waiter with -ECANCELED (inside the call), closes the timers and calls on_closed on
 *   the loop once every handle is gone.
 * - Secrets never appear in logs: messages name the source and the key id only (never
 *   a secret key, session token, web identity token, authorization token or a body).
 * - Every endpoint is configurable so tests point them at loopback.
 *
 * Which source is used (botocore's rule: absent sources are skipped, a present source
 * that fails is an error; it never falls through to a later source):
 * - A source is *present* when its configuration is there: AWS_ACCESS_KEY_ID non-empty
 *   (as in botocore, a lone secret is ignored), AWS_WEB_IDENTITY_TOKEN_FILE, a profile
 *   with credential settings (aws_access_key_id, role_arn, web_identity_token_file, or
 *   the unsupported credential_process / sso_*, which is then -ENOTSUP) in either shared
 *   file, a container URI variable, and IMDS unless AWS_EC2_METADATA_DISABLED=true.
 *   Sources are tried in the order above; the first present one decides the outcome,
 *   success or failure.
 * - Present but broken is an error, not a fall-through: a partial key pair, web identity
 *   without AWS_ROLE_ARN or with an unreadable token file, a profile named explicitly
 *   (option or AWS_PROFILE/AWS_DEFAULT_PROFILE) that is in neither file (-ENOENT), a
 *   role_arn without source_profile or credential_source, a FULL_URI on a host that is
 *   not allowed (-EACCES), an HTTP, STS or parse failure. Only IMDS, being last, can be
 *   "present" without any configuration, so with nothing configured its error is the
 *   chain's error; with IMDS disabled and nothing else the error is -ENOKEY.
 * - The first successful fetch locks the source: refreshes and fetches after
 *   creds_invalidate() use that source only (as botocore's refreshable credentials do).
 *   Until a fetch has succeeded, every fetch walks the chain again from the start.
 * - An explicit creds_options.profile removes the environment-key source (botocore:
 *   a profile set on the session wins over env keys); AWS_PROFILE does not.
 * - Shared-file profiles support static keys, role_arn with source_profile (chains up
 *   to CREDS_MAX_ROLE_CHAIN, cycles are -ELOOP) or credential_source (Environment,
 *   Ec2InstanceMetadata, EcsContainer), and role_arn with web_identity_token_file.
 *   credential_process, SSO and AWS_CREDENTIAL_EXPIRATION are not supported.
 * - creds_options.role_arn then adds one AssumeRole on top of whatever was found.
 *
 * Errors given to waiters: -ENOKEY (no source), -EINVAL (bad configuration),
 * -ENOENT (profile, file or role missing), -ELOOP, -EACCES (refused: 401/403, STS auth
 * errors), -EAGAIN (throttled or 5xx after the retry), -EBADMSG (malformed answer),
 * -EPROTO (unexpected status), transport errors from http.h (-ECONNREFUSED,
 * -ETIMEDOUT, ...), -ECANCELED (closed).
 */
#ifndef OSPREY_CREDS_H
#define OSPREY_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct aws_credentials {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;    /* NULL when there is none */
    uint64_t expiration_ns; /* UNIX epoch ns; 0 = does not expire */
    const char *source;     /* "environment", "web-identity", "shared-file", "container",
                               "imds", "assume-role" */
};

struct creds_options {
    const char *region;
    const char *role_arn;          /* AssumeRole on top of the chain; NULL = none */
    const char *role_session_name; /* default "osprey" */
    const char *profile;           /* overrides AWS_PROFILE */
    const char *shared_credentials_file;
    const char *shared_config_file;
    const char *imds_endpoint;  /* default AWS_EC2_METADATA_SERVICE_ENDPOINT or
                                   http://169.254.169.254 */
    const char *ecs_endpoint;   /* base for the relative URI; default http://169.254.170.2 */
    const char *sts_endpoint;   /* default https://sts.<region>.amazonaws.com */
    uint64_t imds_timeout_ms;   /* default 1000 */
    uint64_t refresh_margin_ns; /* default 5 minutes */
    const char *(*getenv)(const char *name); /* default: getenv */
};

struct creds_provider;

int creds_provider_create(uv_loop_t *loop, const struct creds_options *o,
                          struct creds_provider **ret);
const struct aws_credentials *creds_current(struct creds_provider *p);
int creds_wait(struct creds_provider *p, void (*cb)(void *data, int status), void *data);
void creds_invalidate(struct creds_provider *p);
void creds_provider_close(struct creds_provider *p, void (*on_closed)(void *data), void *data);

/* Additions */

/* Longest role chain (source_profile hops plus creds_options.role_arn). */
#define CREDS_MAX_ROLE_CHAIN 8

/* Forget waiters registered with exactly (cb, data) without calling them (a batch that
 * gave up waiting is about to be freed). Returns how many were removed. */
size_t creds_wait_cancel(struct creds_provider *p, void (*cb)(void *data, int status), void *data);

/* Pure: ISO 8601 / RFC 3339 UTC time as AWS writes it ("2024-01-02T03:04:05Z",
 * "...05.123Z", "...05+00:00"; no zone means UTC), years 1970..9999, to UNIX epoch ns.
 * 0 or -EINVAL. */
int creds_parse_time(const char *s, size_t len, uint64_t *ret_ns);

#endif
