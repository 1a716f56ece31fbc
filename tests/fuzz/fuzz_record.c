/* Fuzz the record decoder: arbitrary bytes must decode to a view that stays inside the
 * buffer, or be rejected. The local line formatter then runs over what decoded (each event of a
 * batch). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/record.h"
#include "exporters/local_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy to an aligned buffer, as the ring hands out 8-byte aligned records. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    struct record_view v;
    if (record_decode(copy, size, &v) == 0) {
        struct buf b;
        buf_init(&b, 1 << 20);
        if (v.hdr.kind == RECORD_LOG_BATCH) {
            /* Only the pipeline sees batches: it formats each event as a RECORD_LOG. */
            struct log_batch_cursor cur = {0};
            struct record_view ev;
            while (record_log_batch_next(&v, &cur, &ev)) {
                b.len = 0;
                (void)local_format_record(&b, &ev, NULL);
            }
            (void)record_log_batch_complete(&v, &cur);
        } else {
            (void)local_format_record(&b, &v, NULL);
        }
        buf_release(&b);
    }
    free(copy);
    return 0;
}
