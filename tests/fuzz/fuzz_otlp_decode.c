/* Fuzz the OTLP request decoder for every signal in both encodings (binary protobuf and
 * OTLP JSON): the same bytes are decoded six ways; a decoded message must pack again
 * (every field the decoder set is consistent with its descriptor) and free cleanly. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "collectors/otlp_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int sig = 0; sig < OTLP_SIGNAL_MAX; sig++)
        for (int fmt = OTLP_PROTOBUF; fmt <= OTLP_JSON; fmt++) {
            ProtobufCMessage *m = NULL;
            int r =
                otlp_decode((enum otlp_signal)sig, (enum otlp_format)fmt, data, size, 1u << 24, &m);
            if (r != 0) {
                if (m || (r != -EBADMSG && r != -E2BIG && r != -ENOMEM))
                    abort();
                continue;
            }
            size_t n = protobuf_c_message_get_packed_size(m);
            uint8_t *out = malloc(n ? n : 1);
            if (!out)
                abort();
            if (protobuf_c_message_pack(m, out) != n)
                abort();
            free(out);
            otlp_message_free(m);
        }
    return 0;
}
