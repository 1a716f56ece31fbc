/* Fuzz the JSON string escaper: whatever the bytes, the output must parse as a JSON
 * string with jansson, and be valid UTF-8 (jansson rejects invalid UTF-8). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/jsonw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf b;
    buf_init(&b, 8 * size + 16);
    size_t repaired = 0;
    if (jsonw_string(&b, data, size, &repaired) != 0)
        abort();
    json_error_t err;
    json_t *j = json_loadb((const char *)b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!j || !json_is_string(j))
        abort();
    if (repaired == 0 &&
        (json_string_length(j) != size || memcmp(json_string_value(j), data, size)))
        abort();
    json_decref(j);
    buf_release(&b);
    return 0;
}
