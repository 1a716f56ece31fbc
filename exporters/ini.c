/*
 * DESIGN
 * One pass over the buffer, line by line, keeping only what belongs to the requested
 * profile. Each line is classified in the order configparser uses: blank, comment,
 * continuation (deeper than the last key line), section header, key/value, malformed.
 * Values are copied out (the caller's buffer is not kept), and every copy that is
 * replaced or released is wiped first, because they are access keys and session tokens.
 */
#include "exporters/ini.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const key_names[INI_KEY_COUNT] = {
    [INI_AWS_ACCESS_KEY_ID] = "aws_access_key_id",
    [INI_AWS_SECRET_ACCESS_KEY] = "aws_secret_access_key",
    [INI_AWS_SESSION_TOKEN] = "aws_session_token",
    [INI_ROLE_ARN] = "role_arn",
    [INI_SOURCE_PROFILE] = "source_profile",
    [INI_CREDENTIAL_SOURCE] = "credential_source",
    [INI_WEB_IDENTITY_TOKEN_FILE] = "web_identity_token_file",
    [INI_ROLE_SESSION_NAME] = "role_session_name",
    [INI_EXTERNAL_ID] = "external_id",
    [INI_REGION] = "region",
    [INI_CREDENTIAL_PROCESS] = "credential_process",
    [INI_SSO_START_URL] = "sso_start_url",
    [INI_SSO_SESSION] = "sso_session",
};

#define LEGACY_SECURITY_TOKEN "aws_security_token"

const char *ini_key_name(enum ini_key k)
{
    return (unsigned)k < INI_KEY_COUNT ? key_names[k] : NULL;
}

static void wipe_free(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

void ini_profile_release(struct ini_profile *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < INI_KEY_COUNT; i++)
        wipe_free(p->values[i]);
    wipe_free(p->legacy_security_token);
    memset(p, 0, sizeof(*p));
}

const char *ini_profile_get(const struct ini_profile *p, enum ini_key k)
{
    if (!p || (unsigned)k >= INI_KEY_COUNT)
        return NULL;
    return p->values[k];
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\f' || c == '\v';
}

/* Trim blanks (and a stray CR) on both sides of [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n && (is_blank(**s) || **s == '\r')) {
        (*s)++;
        (*n)--;
    }
    while (*n && (is_blank((*s)[*n - 1]) || (*s)[*n - 1] == '\r'))
        (*n)--;
}

static bool equals(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

static bool header_matches(enum ini_file_kind kind, const char *h, size_t n, const char *profile)
{
    if (kind == INI_CREDENTIALS)
        return equals(h, n, profile);
    if (equals(h, n, "default"))
        return strcmp(profile, "default") == 0;
    static const char prefix[] = "profile";
    size_t plen = sizeof(prefix) - 1;
    if (n <= plen || memcmp(h, prefix, plen) != 0 || !is_blank(h[plen]))
        return false;
    const char *name = h + plen;
    size_t nlen = n - plen;
    trim(&name, &nlen);
    if (nlen >= 2 && name[0] == '"' && name[nlen - 1] == '"') {
        name++;
        nlen -= 2;
    }
    return equals(name, nlen, profile);
}

/* Store a copy of [v, v + n) in *slot (NULL when empty), wiping what was there. */
static int set_value(char **slot, const char *v, size_t n)
{
    char *copy = NULL;
    if (n > 0) {
        copy = malloc(n + 1);
        if (!copy)
            return -ENOMEM;
        memcpy(copy, v, n);
        copy[n] = '\0';
    }
    wipe_free(*slot);
    *slot = copy;
    return 0;
}

static char **slot_for(struct ini_profile *p, const char *key, size_t n)
{
    for (size_t i = 0; i < INI_KEY_COUNT; i++)
        if (strlen(key_names[i]) == n && strncasecmp(key, key_names[i], n) == 0)
            return &p->values[i];
    if (n == sizeof(LEGACY_SECURITY_TOKEN) - 1 && strncasecmp(key, LEGACY_SECURITY_TOKEN, n) == 0)
        return &p->legacy_security_token;
    return NULL;
}

int ini_profile_parse(const char *buf, size_t len, enum ini_file_kind kind, const char *profile,
                      struct ini_profile *ret)
{
    if (!ret)
        return -EINVAL;
    memset(ret, 0, sizeof(*ret));
    if ((!buf && len) || !profile || (kind != INI_CREDENTIALS && kind != INI_CONFIG))
        return -EINVAL;

    size_t pos = 0;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    bool have_section = false; /* a section header was seen */
    bool in_profile = false;   /* ...and it is the requested profile */
    long key_indent = -1;      /* indentation of the last key line in this section */
    int r = 0;

    while (pos < len) {
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);

        if (memchr(line, '\0', n)) {
            ret->bad_lines++;
            continue;
        }
        size_t indent = 0;
        while (indent < n && is_blank(line[indent]))
            indent++;
        const char *s = line;
        size_t sn = n;
        trim(&s, &sn);
        if (sn == 0 || s[0] == '#' || s[0] == ';')
            continue;
        if (key_indent >= 0 && (long)indent > key_indent)
            continue; /* continuation of the previous key (nested setting) */

        if (s[0] == '[') {
            const char *close = NULL;
            for (size_t i = sn; i > 1; i--) {
                if (s[i - 1] == ']') {
                    close = s + i - 1;
                    break;
                }
            }
            if (!close) {
                ret->bad_lines++;
                key_indent = -1;
                continue;
            }
            const char *h = s + 1;
            size_t hn = (size_t)(close - h);
            trim(&h, &hn);
            have_section = true;
            in_profile = header_matches(kind, h, hn, profile);
            if (in_profile)
                ret->found = true;
            key_indent = -1;
            continue;
        }

        size_t d = 0;
        while (d < sn && s[d] != '=' && s[d] != ':')
            d++;
        if (d == sn || !have_section) {
            ret->bad_lines++;
            key_indent = -1;
            continue;
        }
        const char *k = s;
        size_t kn = d;
        trim(&k, &kn);
        const char *v = s + d + 1;
        size_t vn = sn - d - 1;
        trim(&v, &vn);
        if (kn == 0) {
            ret->bad_lines++;
            key_indent = -1;
            continue;
        }
        key_indent = (long)indent;
        if (!in_profile)
            continue;
        char **slot = slot_for(ret, k, kn);
        if (!slot)
            continue;
        r = set_value(slot, v, vn);
        if (r != 0)
            goto fail;
    }

    if (!ret->values[INI_AWS_SESSION_TOKEN] && ret->legacy_security_token) {
        ret->values[INI_AWS_SESSION_TOKEN] = ret->legacy_security_token;
        ret->legacy_security_token = NULL;
    }
    return 0;

fail:
    ini_profile_release(ret);
    return r;
}
