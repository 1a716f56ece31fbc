/*
 * jsonw: writing JSON text into a struct buf (writing only: parsing is jansson's job).
 *
 * Contract
 * - Pure: no I/O, no logging; appends to the caller's buf and returns 0, or the buf's
 *   error (-ENOBUFS at its cap, -ENOMEM), or -EDOM for a number JSON cannot carry
 *   (NaN, infinities). On error the buf may hold a partial value: callers truncate back
 *   to their own mark.
 * - jsonw_string() always produces valid JSON text from arbitrary bytes: control
 *   characters are escaped and invalid UTF-8 sequences are replaced by U+FFFD; the
 *   number of replacements is added to *ret_repaired when it is not NULL.
 */
#ifndef OSPREY_JSONW_H
#define OSPREY_JSONW_H

#include <stddef.h>
#include <stdint.h>

#include "agent/buf.h"

int jsonw_string(struct buf *b, const uint8_t *s, size_t len, size_t *ret_repaired);
int jsonw_cstring(struct buf *b, const char *s);
/* Shortest text that reads back as the same double ("%.17g" trimmed). */
int jsonw_double(struct buf *b, double v);
int jsonw_u64(struct buf *b, uint64_t v);
/* ISO 8601 UTC with milliseconds, quoted: "2026-11-22T03:07:24.123Z". */
int jsonw_timestamp_ms(struct buf *b, uint64_t epoch_ns);

#endif
