#include "collectors/xray_datagram.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

const char *const xray_reject_names[] = {
    "too_large",     "no_separator",
    "bad_header",    "empty_body",
    "not_json",      "not_object",
    "bad_type",      "missing_id",
    "bad_id",        "missing_name",
    "bad_name",      "missing_start",
    "bad_start",     "missing_end",
    "bad_end",       "bad_in_progress",
    "bad_parent_id", "missing_trace_id",
    "bad_trace_id",  "missing_parent_id",
    "bad_otlp",      NULL,
};

_Static_assert(sizeof(xray_reject_names) / sizeof(xray_reject_names[0]) == XRAY_REJECT_MAX + 1,
               "one name per reason");

enum selfstats_drop xray_reject_drop(enum xray_reject reason)
{
    switch (reason) {
    case XRAY_REJECT_TOO_LARGE:
        return DROP_TOO_LARGE;
    case XRAY_REJECT_NO_SEPARATOR:
    case XRAY_REJECT_BAD_HEADER:
    case XRAY_REJECT_EMPTY_BODY:
    case XRAY_REJECT_NOT_JSON:
        return DROP_MALFORMED;
    default:
        return DROP_INVALID;
    }
}

/* What every SDK sends; recognised without parsing. */
static const char canonical_header[] = "{\"format\":\"json\",\"version\":1}";

static bool eq_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
        if (x != y)
            return false;
    }
    return *a == *b;
}

bool xray_header_valid(const uint8_t *header, size_t len)
{
    if (len == sizeof(canonical_header) - 1 && memcmp(header, canonical_header, len) == 0)
        return true;
    json_t *h = json_loadb((const char *)header, len, JSON_DECODE_ANY, NULL);
    if (!h)
        return false;
    bool ok = false;
    if (json_is_object(h)) {
        /* Go's decoder: keys match case-insensitively; the last one wins. */
        const char *format = NULL;
        json_int_t version = 0;
        bool version_ok = false;
        const char *key;
        json_t *v;
        json_object_foreach(h, key, v)
        {
            if (eq_nocase(key, "format")) {
                format = json_is_string(v) ? json_string_value(v) : NULL;
            } else if (eq_nocase(key, "version")) {
                version_ok = json_is_integer(v);
                version = version_ok ? json_integer_value(v) : 0;
            }
        }
        ok = format && strlen(format) == 4 && eq_nocase(format, "json") && version_ok &&
             version == 1;
    }
    json_decref(h);
    return ok;
}

static bool is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool id_ok(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) == 16 &&
           is_lower_hex(json_string_value(v), 16);
}

static bool trace_id_ok(const json_t *v)
{
    if (!json_is_string(v) || json_string_length(v) != 35)
        return false;
    const char *s = json_string_value(v);
    return s[0] == '1' && s[1] == '-' && s[10] == '-' && is_lower_hex(s + 2, 8) &&
           is_lower_hex(s + 11, 24);
}

/* X-Ray's name rule: Unicode letters, digits, whitespace and _ . : / % & # = + \ - @, at
 * most 200 characters. Non-ASCII code points are taken as letters (no Unicode tables
 * here); jansson already guaranteed valid UTF-8. */
static bool name_ok(const json_t *v)
{
    if (!json_is_string(v))
        return false;
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t n = json_string_length(v), chars = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if ((c & 0xC0) == 0x80)
            continue; /* continuation byte of a counted character */
        chars++;
        if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f))
            continue; /* whitespace as Python's \s counts it */
        if (c == 0 || !strchr("_.:/%&#=+\\-@", c))
            return false;
    }
    return chars >= 1 && chars <= XRAY_NAME_MAX_CHARS;
}

static bool base64_ok(const uint8_t *p, size_t n)
{
    if (n == 0 || n % 4 != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (alnum || c == '+' || c == '/')
            continue;
        /* '=' only as the last one or two characters. */
        if (c == '=' && (i == n - 1 || (i == n - 2 && p[n - 1] == '=')))
            continue;
        return false;
    }
    return true;
}

static enum xray_reject check_document(const json_t *doc)
{
    const json_t *type = json_object_get(doc, "type");
    bool sub = false;
    if (type) {
        if (!json_is_string(type) || strcmp(json_string_value(type), "subsegment") != 0)
            return XRAY_REJECT_BAD_TYPE;
        sub = true;
    }
    const json_t *v = json_object_get(doc, "id");
    if (!v)
        return XRAY_REJECT_MISSING_ID;
    if (!id_ok(v))
        return XRAY_REJECT_BAD_ID;
    v = json_object_get(doc, "name");
    if (!v)
        return XRAY_REJECT_MISSING_NAME;
    if (!name_ok(v))
        return XRAY_REJECT_BAD_NAME;
    v = json_object_get(doc, "start_time");
    if (!v)
        return XRAY_REJECT_MISSING_START;
    if (!json_is_number(v))
        return XRAY_REJECT_BAD_START;
    const json_t *in_progress = json_object_get(doc, "in_progress");
    if (in_progress && !json_is_boolean(in_progress))
        return XRAY_REJECT_BAD_IN_PROGRESS;
    v = json_object_get(doc, "end_time");
    if (v) {
        if (!json_is_number(v))
            return XRAY_REJECT_BAD_END;
    } else if (!json_is_true(in_progress)) {
        return XRAY_REJECT_MISSING_END;
    }
    const json_t *parent = json_object_get(doc, "parent_id");
    if (parent && !id_ok(parent))
        return XRAY_REJECT_BAD_PARENT_ID;
    v = json_object_get(doc, "trace_id");
    if (!v)
        return XRAY_REJECT_MISSING_TRACE_ID;
    if (!trace_id_ok(v))
        return XRAY_REJECT_BAD_TRACE_ID;
    if (sub && !parent)
        return XRAY_REJECT_MISSING_PARENT_ID;
    return XRAY_REJECT_MAX;
}

int xray_datagram_parse(const uint8_t *buf, size_t len, unsigned flags, struct xray_datagram *ret,
                        enum xray_reject *ret_reason)
{
    memset(ret, 0, sizeof(*ret));
    enum xray_reject why = XRAY_REJECT_MAX;
    if (len > XRAY_DATAGRAM_MAX) {
        why = XRAY_REJECT_TOO_LARGE;
        goto refuse;
    }
    const uint8_t *nl = len ? memchr(buf, '\n', len) : NULL;
    if (!nl) {
        why = XRAY_REJECT_NO_SEPARATOR;
        goto refuse;
    }
    if (!xray_header_valid(buf, (size_t)(nl - buf))) {
        why = XRAY_REJECT_BAD_HEADER;
        goto refuse;
    }
    const uint8_t *body = nl + 1;
    size_t body_len = len - (size_t)(body - buf);
    if (body_len == 0) {
        why = XRAY_REJECT_EMPTY_BODY;
        goto refuse;
    }
    if (flags & XRAY_DATAGRAM_FRAMING_ONLY) {
        ret->otlp = body_len >= 3 && memcmp(body, "T1S", 3) == 0;
    } else if (body_len >= 3 && memcmp(body, "T1S", 3) == 0) {
        if (!base64_ok(body + 3, body_len - 3)) {
            why = XRAY_REJECT_BAD_OTLP;
            goto refuse;
        }
        ret->otlp = true;
    } else {
        /* Duplicate keys: the last wins, as in the service's parser. */
        json_t *doc =
            json_loadb((const char *)body, body_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (!doc) {
            why = XRAY_REJECT_NOT_JSON;
            goto refuse;
        }
        why = json_is_object(doc) ? check_document(doc) : XRAY_REJECT_NOT_OBJECT;
        json_decref(doc);
        if (why != XRAY_REJECT_MAX)
            goto refuse;
    }
    ret->body = body;
    ret->body_len = body_len;
    return 0;

refuse:
    *ret_reason = why;
    return -EINVAL;
}
