/* Fuzz the X-Ray exporter's pure parts with the same bytes read three ways: as a
 * PutTraceSegments answer (UnprocessedTraceSegments), as a segment document whose
 * top-level id is scanned, and as a document put in a request body, which must then
 * parse back as {"TraceSegmentDocuments":["..."]}. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/xray_encode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_field(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n >= cap)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)s[i] < 0x20 || s[i] == 0x7F)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The answer. */
    struct xray_unprocessed items[8];
    size_t total = 12345;
    int r = xray_parse_response(data, size, items, 8, &total);
    if (r != 0 && (r != -EBADMSG || total != 0))
        abort();
    for (size_t i = 0; i < total && i < 8; i++) {
        check_field(items[i].id, sizeof(items[i].id));
        check_field(items[i].error_code, sizeof(items[i].error_code));
        check_field(items[i].message, sizeof(items[i].message));
    }

    /* The document's id. */
    struct xray_doc doc = {.rejected = false};
    r = xray_document_id(data, size, doc.id);
    if (r == 0) {
        size_t n = strlen(doc.id);
        if (n == 0 || n > XRAY_ID_MAX || !memmem(data, size, doc.id, n))
            abort();
    } else if ((r != -ENOENT && r != -EBADMSG) || doc.id[0]) {
        abort();
    }
    size_t n_items = total < 8 ? total : 8;
    if (xray_mark_unprocessed(&doc, 1, items, n_items) > n_items)
        abort();

    /* The document in a request body. */
    struct buf b;
    buf_init(&b, XRAY_MAX_BODY_BYTES);
    if (xray_body_begin(&b) != 0)
        abort();
    r = xray_body_add(&b, true, data, size);
    if (r != 0 && !(r == -EINVAL && size == 0) && r != -EMSGSIZE)
        abort();
    bool added = r == 0;
    if (xray_body_end(&b) != 0)
        abort();
    json_t *j = json_loadb((const char *)b.data, b.len, JSON_ALLOW_NUL, NULL);
    json_t *list = json_object_get(j, "TraceSegmentDocuments");
    if (!json_is_array(list) || json_array_size(list) != (added ? 1u : 0u))
        abort();
    if (added) {
        json_t *s = json_array_get(list, 0);
        if (!json_is_string(s) || json_string_length(s) > XRAY_MAX_DOCUMENT_BYTES)
            abort();
    }
    json_decref(j);
    buf_release(&b);
    return 0;
}
