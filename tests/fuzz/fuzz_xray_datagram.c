/* Fuzz the X-Ray UDP datagram validator: whatever it accepts is framed as the daemon
 * frames it (header before the first '\n', a valid header, a non-empty body inside the
 * input) and, unless it is an OTLP pass-through, a JSON object with the segment's
 * required fields; whatever it refuses has exactly one known reason. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/xray_datagram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct xray_datagram d;
    enum xray_reject why = XRAY_REJECT_MAX;
    /* Framing only: the daemon's rule, a superset of what full validation accepts. */
    struct xray_datagram f;
    enum xray_reject fwhy = XRAY_REJECT_MAX;
    int fr = xray_datagram_parse(data, size, XRAY_DATAGRAM_FRAMING_ONLY, &f, &fwhy);
    if (fr != 0 && fwhy >= XRAY_REJECT_MAX)
        abort();
    int r = xray_datagram_parse(data, size, 0, &d, &why);
    if (r == 0 && (fr != 0 || f.body != d.body || f.body_len != d.body_len))
        abort();
    if (r != 0) {
        if (why >= XRAY_REJECT_MAX || !xray_reject_names[why])
            abort();
        (void)xray_reject_drop(why);
        return 0;
    }
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl || d.body != nl + 1 || d.body_len == 0 || d.body + d.body_len != data + size ||
        size > XRAY_DATAGRAM_MAX)
        abort();
    if (!xray_header_valid(data, (size_t)(nl - data)))
        abort();
    if (d.otlp) {
        if (d.body_len < 7 || memcmp(d.body, "T1S", 3) != 0)
            abort();
        return 0;
    }
    json_t *doc =
        json_loadb((const char *)d.body, d.body_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!json_is_object(doc) || !json_is_string(json_object_get(doc, "id")) ||
        json_string_length(json_object_get(doc, "id")) != 16 ||
        !json_is_string(json_object_get(doc, "name")) ||
        !json_is_number(json_object_get(doc, "start_time")) ||
        !json_is_string(json_object_get(doc, "trace_id")) ||
        (!json_is_number(json_object_get(doc, "end_time")) &&
         !json_is_true(json_object_get(doc, "in_progress"))))
        abort();
    json_decref(doc);
    return 0;
}
