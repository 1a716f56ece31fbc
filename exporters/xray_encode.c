#include "exporters/xray_encode.h"

#include "agent/jsonw.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#define XRAY_BODY_PREFIX "{\"TraceSegmentDocuments\":["
#define XRAY_BODY_SUFFIX "]}"
#define SCAN_FAILED      SIZE_MAX

/* ---- request body ------------------------------------------------------------------- */

int xray_body_begin(struct buf *body)
{
    buf_reset(body);
    return buf_append_str(body, XRAY_BODY_PREFIX);
}

static void truncate_to(struct buf *body, size_t mark)
{
    body->len = mark;
    if (body->data)
        body->data[mark] = '\0';
}

int xray_body_add(struct buf *body, bool first, const uint8_t *doc, size_t len)
{
    if (len == 0)
        return -EINVAL;
    /* Repairing invalid UTF-8 only makes a document longer. */
    if (len > XRAY_MAX_DOCUMENT_BYTES)
        return -EMSGSIZE;
    size_t mark = body->len;
    size_t repaired = 0;
    int r = first ? 0 : buf_append(body, ",", 1);
    if (r == 0)
        r = jsonw_string(body, doc, len, &repaired);
    /* Each repaired byte became U+FFFD: three bytes of UTF-8 instead of one. */
    if (r == 0 && len + 2 * repaired > XRAY_MAX_DOCUMENT_BYTES)
        r = -EMSGSIZE;
    if (r != 0)
        truncate_to(body, mark);
    return r;
}

int xray_body_end(struct buf *body)
{
    return buf_append_str(body, XRAY_BODY_SUFFIX);
}

/* ---- a document's id ---------------------------------------------------------------- */

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const uint8_t *s, size_t len, size_t i)
{
    while (i < len && is_ws(s[i]))
        i++;
    return i;
}

/* s[i] is '"': the index just past the closing quote, or SCAN_FAILED when the string is
 * not terminated. *escaped is set when the string holds a backslash escape. */
static size_t skip_string(const uint8_t *s, size_t len, size_t i, bool *escaped)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\') {
            *escaped = true;
            i++; /* the escaped character */
            continue;
        }
        if (s[i] == '"')
            return i + 1;
    }
    return SCAN_FAILED;
}

/* One JSON value starting at s[i]: the index just past it, or SCAN_FAILED. Containers
 * are skipped by bracket depth (strings inside them included); their inner syntax is not
 * checked: this is a scan, not a validator. */
static size_t skip_value(const uint8_t *s, size_t len, size_t i)
{
    bool escaped = false;
    if (i >= len)
        return SCAN_FAILED;
    if (s[i] == '"')
        return skip_string(s, len, i, &escaped);
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        while (i < len) {
            uint8_t c = s[i];
            if (c == '"') {
                i = skip_string(s, len, i, &escaped);
                if (i == SCAN_FAILED)
                    return SCAN_FAILED;
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return i + 1;
            }
            i++;
        }
        return SCAN_FAILED;
    }
    size_t start = i;
    while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_ws(s[i]))
        i++;
    return i > start ? i : SCAN_FAILED;
}

int xray_document_id(const uint8_t *doc, size_t len, char ret_id[XRAY_ID_MAX + 1])
{
    ret_id[0] = '\0';
    size_t i = skip_ws(doc, len, 0);
    if (i >= len || doc[i] != '{')
        return -EBADMSG;
    i = skip_ws(doc, len, i + 1);
    if (i < len && doc[i] == '}')
        return -ENOENT;
    for (;;) {
        if (i >= len || doc[i] != '"')
            return -EBADMSG;
        bool key_escaped = false;
        size_t key_end = skip_string(doc, len, i, &key_escaped);
        if (key_end == SCAN_FAILED)
            return -EBADMSG;
        bool is_id = !key_escaped && key_end - i == 4 && memcmp(doc + i + 1, "id", 2) == 0;
        i = skip_ws(doc, len, key_end);
        if (i >= len || doc[i] != ':')
            return -EBADMSG;
        i = skip_ws(doc, len, i + 1);
        if (is_id) {
            if (i >= len || doc[i] != '"')
                return -ENOENT;
            bool escaped = false;
            size_t end = skip_string(doc, len, i, &escaped);
            if (end == SCAN_FAILED)
                return -EBADMSG;
            size_t n = end - i - 2;
            if (escaped || n == 0 || n > XRAY_ID_MAX)
                return -ENOENT;
            for (size_t k = 0; k < n; k++)
                if (doc[i + 1 + k] < 0x20 || doc[i + 1 + k] > 0x7E)
                    return -ENOENT;
            memcpy(ret_id, doc + i + 1, n);
            ret_id[n] = '\0';
            return 0;
        }
        i = skip_value(doc, len, i);
        if (i == SCAN_FAILED)
            return -EBADMSG;
        i = skip_ws(doc, len, i);
        if (i < len && doc[i] == ',') {
            i = skip_ws(doc, len, i + 1);
            continue;
        }
        if (i < len && doc[i] == '}')
            return -ENOENT;
        return -EBADMSG;
    }
}

/* ---- the answer --------------------------------------------------------------------- */

/* A printable copy: cut at a UTF-8 boundary, control characters replaced by '?'. */
static void copy_field(char *dst, size_t cap, const json_t *v)
{
    dst[0] = '\0';
    if (!json_is_string(v))
        return;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n > cap - 1) {
        n = cap - 1;
        while (n > 0 && ((uint8_t)s[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        dst[i] = c < 0x20 || c == 0x7F ? '?' : (char)c;
    }
    dst[n] = '\0';
}

int xray_parse_response(const uint8_t *body, size_t len, struct xray_unprocessed *items, size_t max,
                        size_t *ret_total)
{
    *ret_total = 0;
    if (skip_ws(body, len, 0) == len)
        return 0;
    json_t *j = json_loadb((const char *)body, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return -EBADMSG;
    }
    int r = 0;
    json_t *list = json_object_get(j, "UnprocessedTraceSegments");
    if (json_is_array(list)) {
        size_t n = json_array_size(list);
        for (size_t k = 0; k < n && k < max; k++) {
            json_t *item = json_array_get(list, k);
            struct xray_unprocessed *u = &items[k];
            copy_field(u->id, sizeof(u->id), json_object_get(item, "Id"));
            copy_field(u->error_code, sizeof(u->error_code), json_object_get(item, "ErrorCode"));
            copy_field(u->message, sizeof(u->message), json_object_get(item, "Message"));
        }
        *ret_total = n;
    } else if (list && !json_is_null(list)) {
        r = -EBADMSG;
    }
    json_decref(j);
    return r;
}

size_t xray_mark_unprocessed(struct xray_doc *docs, size_t n_docs,
                             const struct xray_unprocessed *items, size_t n_items)
{
    size_t unmatched = 0;
    for (size_t k = 0; k < n_items; k++) {
        bool found = false;
        for (size_t d = 0; items[k].id[0] && d < n_docs && !found; d++) {
            if (!docs[d].rejected && strcmp(docs[d].id, items[k].id) == 0) {
                docs[d].rejected = true;
                found = true;
            }
        }
        if (!found)
            unmatched++;
    }
    return unmatched;
}
