/*
 * xray_encode: the pure parts of the X-Ray exporter — the PutTraceSegments request body,
 * the top-level "id" of a segment document, and the UnprocessedTraceSegments answer.
 *
 * Contract
 * - Pure: no I/O, no logging, no allocation beyond the caller's buf (and jansson's
 *   temporary tree while parsing an answer). Thread-agnostic.
 * - Body: {"TraceSegmentDocuments":["<doc>","<doc>",...]} — each document is carried as
 *   a JSON string (escaped with jsonw_string, invalid UTF-8 repaired to U+FFFD). Build it
 *   with xray_body_begin(), one xray_body_add() per document, xray_body_end().
 * - xray_body_add() returns 0; -EINVAL for an empty document; -EMSGSIZE when the document
 *   is larger than XRAY_MAX_DOCUMENT_BYTES as the service counts it (UTF-8 bytes after
 *   repair); or the buf's error (-ENOBUFS, -ENOMEM). On any error the body is left as it
 *   was, so the batch stays valid.
 * - A body holding XRAY_MAX_DOCUMENTS documents never needs more than
 *   XRAY_MAX_BODY_BYTES (worst case: every byte escaped as \u00XX).
 * - xray_document_id() reads the document's own top-level "id" string without parsing
 *   the whole document (no allocation): 0, or -ENOENT when there is none, it is not a
 *   plain string of printable ASCII (no escapes) or is longer than XRAY_ID_MAX; -EBADMSG
 *   when the text is not a JSON object as far as the scan went.
 * - xray_parse_response() reads a 200 answer. 0 with *ret_total = the number of entries of
 *   UnprocessedTraceSegments (0 when the body is empty, "{}" or the member is null); the
 *   first `max` entries are copied into `items` (fields truncated at a UTF-8 boundary,
 *   control characters replaced by '?', empty when absent or not strings). -EBADMSG when
 *   the body is not a JSON object or the member is not a list.
 * - xray_mark_unprocessed() matches answer entries to the batch's documents by Id (each
 *   document at most once, first unmarked match wins) and returns how many entries
 *   matched no document (no Id, or an Id the batch does not hold).
 */
#ifndef OSPREY_XRAY_ENCODE_H
#define OSPREY_XRAY_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/buf.h"

#define XRAY_MAX_DOCUMENTS      50u    /* per PutTraceSegments call (daemon, OTel exporter) */
#define XRAY_MAX_DOCUMENT_BYTES 65536u /* 64 KiB per segment document */
#define XRAY_ID_MAX             64u    /* longest id kept for matching (X-Ray ids: 16 hex) */
#define XRAY_ERROR_CODE_MAX     64u
#define XRAY_MESSAGE_MAX        256u
/* Escaping makes a document at most 6 times longer; 2 quotes and a comma each. */
#define XRAY_MAX_BODY_BYTES                                                                        \
    ((size_t)XRAY_MAX_DOCUMENTS * (6u * (size_t)XRAY_MAX_DOCUMENT_BYTES + 3u) + 64u)

int xray_body_begin(struct buf *body);
/* `first`: no document was added yet (no separator). */
int xray_body_add(struct buf *body, bool first, const uint8_t *doc, size_t len);
int xray_body_end(struct buf *body);

int xray_document_id(const uint8_t *doc, size_t len, char ret_id[XRAY_ID_MAX + 1]);

struct xray_unprocessed {
    char id[XRAY_ID_MAX + 1];
    char error_code[XRAY_ERROR_CODE_MAX + 1];
    char message[XRAY_MESSAGE_MAX + 1];
};

int xray_parse_response(const uint8_t *body, size_t len, struct xray_unprocessed *items, size_t max,
                        size_t *ret_total);

struct xray_doc {
    char id[XRAY_ID_MAX + 1]; /* "" when the document's id could not be read */
    bool rejected;
};

size_t xray_mark_unprocessed(struct xray_doc *docs, size_t n_docs,
                             const struct xray_unprocessed *items, size_t n_items);

#endif
