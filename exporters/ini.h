/*
 * ini: the AWS shared files (~/.aws/credentials, ~/.aws/config), read for one profile.
 *
 * Contract
 * - Pure: ini_profile_parse() reads `len` bytes of `buf` (no NUL terminator needed, nothing
 *   past `len` is read), writes only *ret, never logs, does no I/O and is safe on any
 *   thread. It allocates the values it returns; ini_profile_release() frees them (and
 *   wipes them first: they hold secrets).
 * - Returns 0 whether or not the profile was found (ret->found says), -EINVAL for a bad
 *   argument, -ENOMEM. On error *ret is released and zeroed.
 * - The format follows botocore (Python's configparser in its default, raw mode), which
 *   is what `aws configure` writes:
 *   - Lines end in LF or CRLF; a leading UTF-8 BOM is skipped. A line whose first
 *     non-blank character is '#' or ';' is a comment. There are no inline comments: in
 *     "key = value # x" the value is "value # x" (as in botocore).
 *   - "[name]" opens a section (blanks around the name are dropped; anything after the
 *     last ']' is ignored). In the credentials file the section name is the profile name.
 *     In the config file the profile is "[profile name]" (one or more blanks after
 *     "profile"; the name may be in double quotes), and the default profile is "[default]"
 *     or "[profile default]".
 *   - "key = value" or "key: value" (split at the first '=' or ':'); key and value are
 *     trimmed; keys are matched case-insensitively (configparser lower-cases them), values
 *     are kept verbatim (no unquoting). An empty value counts as absent.
 *   - A line indented deeper than the key line before it is a continuation of that key (a
 *     nested setting such as "s3 =\n  max_concurrent_requests = 10"); it is skipped, so it
 *     never overrides a top-level key.
 *   - Sections with the same name are merged and a repeated key keeps its last value
 *     (the other SDKs' rule; configparser would refuse the file).
 *   - Lines that are none of the above (no '=' or ':', a key before any section, a NUL
 *     byte) are ignored and counted in ret->bad_lines, so the caller can warn without
 *     ever printing the file's content.
 * - Limits: none beyond `len`; callers cap the size of what they read.
 */
#ifndef OSPREY_INI_H
#define OSPREY_INI_H

#include <stdbool.h>
#include <stddef.h>

enum ini_file_kind {
    INI_CREDENTIALS, /* [name] */
    INI_CONFIG,      /* [profile name], [default] */
};

/* The keys Osprey reads; everything else in a profile is ignored. */
enum ini_key {
    INI_AWS_ACCESS_KEY_ID = 0,
    INI_AWS_SECRET_ACCESS_KEY,
    INI_AWS_SESSION_TOKEN, /* or the legacy aws_security_token when this one is absent */
    INI_ROLE_ARN,
    INI_SOURCE_PROFILE,
    INI_CREDENTIAL_SOURCE,
    INI_WEB_IDENTITY_TOKEN_FILE,
    INI_ROLE_SESSION_NAME,
    INI_EXTERNAL_ID,
    INI_REGION,
    INI_CREDENTIAL_PROCESS, /* read only to say it is not supported */
    INI_SSO_START_URL,
    INI_SSO_SESSION,
    INI_KEY_COUNT
};

struct ini_profile {
    bool found;                  /* at least one section of that profile exists */
    char *values[INI_KEY_COUNT]; /* NUL-terminated, non-empty, or NULL when absent */
    char *legacy_security_token; /* aws_security_token, folded into the above */
    unsigned bad_lines;          /* lines ignored as malformed (whole file) */
};

/* The lower-case key name, e.g. "aws_access_key_id". */
const char *ini_key_name(enum ini_key k);

int ini_profile_parse(const char *buf, size_t len, enum ini_file_kind kind, const char *profile,
                      struct ini_profile *ret);
/* The value or NULL. NULL-safe on p. */
const char *ini_profile_get(const struct ini_profile *p, enum ini_key k);
/* Wipe and free the values and zero *p. NULL-safe; safe on a zeroed profile. */
void ini_profile_release(struct ini_profile *p);

#endif
