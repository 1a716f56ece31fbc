/* X-Ray exporter's pure parts: the PutTraceSegments body (read back with jansson), the
 * 64 KiB document limit at its edge, a document's top-level id, and the
 * UnprocessedTraceSegments answer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/buf.h"
#include "exporters/xray_encode.h"

#define SEGMENT                                                                                    \
    "{\"name\":\"svc\",\"id\":\"70de5b6f19ff9a0a\",\"trace_id\":\"1-58406520-"                     \
    "a006649127e371903a2de979\",\"start_time\":1480615200.010,\"end_time\":1480615200.090}"

static int add_str(struct buf *b, bool first, const char *doc)
{
    return xray_body_add(b, first, (const uint8_t *)doc, strlen(doc));
}

/* The body parsed back: the TraceSegmentDocuments list (a new reference). */
static json_t *documents_of(const struct buf *b)
{
    json_error_t err;
    json_t *j = json_loadb((const char *)b->data, b->len, 0, &err);
    assert_non_null(j);
    assert_true(json_is_object(j));
    assert_int_equal(json_object_size(j), 1);
    json_t *docs = json_object_get(j, "TraceSegmentDocuments");
    assert_true(json_is_array(docs));
    json_incref(docs);
    json_decref(j);
    return docs;
}

static void test_body_round_trip(void **state)
{
    (void)state;
    static const char *const docs[] = {
        SEGMENT,
        "{\"name\":\"quotes \\\"and\\\" \\\\ slashes\",\"id\":\"0000000000000001\"}",
        "{\"name\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa6\",\"id\":\"0000000000000002\"}",
        "{\n  \"name\": \"multi\\nline\",\t\"id\": \"0000000000000003\"\r\n}",
    };
    struct buf b;
    buf_init(&b, XRAY_MAX_BODY_BYTES);
    assert_int_equal(xray_body_begin(&b), 0);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(add_str(&b, i == 0, docs[i]), 0);
    assert_int_equal(xray_body_end(&b), 0);
    json_t *list = documents_of(&b);
    assert_int_equal(json_array_size(list), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *s = json_array_get(list, i);
        assert_true(json_is_string(s));
        assert_string_equal(json_string_value(s), docs[i]);
    }
    json_decref(list);

    /* Reusable: begin starts over. */
    assert_int_equal(xray_body_begin(&b), 0);
    assert_int_equal(xray_body_end(&b), 0);
    assert_string_equal((char *)b.data, "{\"TraceSegmentDocuments\":[]}");
    buf_release(&b);
}

static void test_body_repairs_invalid_utf8_and_escapes_controls(void **state)
{
    (void)state;
    const uint8_t doc[] = {'{', '"', 'x', '"', ':', '"', 0xff, 0x01, 0x00, '"', '}'};
    struct buf b;
    buf_init(&b, XRAY_MAX_BODY_BYTES);
    assert_int_equal(xray_body_begin(&b), 0);
    assert_int_equal(xray_body_add(&b, true, doc, sizeof(doc)), 0);
    assert_int_equal(xray_body_end(&b), 0);
    json_error_t err;
    json_t *j = json_loadb((const char *)b.data, b.len, JSON_ALLOW_NUL, &err);
    assert_non_null(j);
    json_t *s = json_array_get(json_object_get(j, "TraceSegmentDocuments"), 0);
    assert_int_equal(json_string_length(s), 13); /* 0xff -> U+FFFD (3 bytes) */
    assert_memory_equal(json_string_value(s), "{\"x\":\"\xef\xbf\xbd\x01\x00\"}", 13);
    json_decref(j);
    buf_release(&b);
}

static void test_document_size_limit_at_the_edge(void **state)
{
    (void)state;
    uint8_t *doc = malloc(XRAY_MAX_DOCUMENT_BYTES + 1);
    assert_non_null(doc);
    memset(doc, 'a', XRAY_MAX_DOCUMENT_BYTES + 1);
    struct buf b;
    buf_init(&b, XRAY_MAX_BODY_BYTES);
    assert_int_equal(xray_body_begin(&b), 0);
    assert_int_equal(add_str(&b, true, SEGMENT), 0);
    size_t len = b.len;

    /* Exactly 64 KiB is fine; one byte more is not, and the body is untouched. */
    assert_int_equal(xray_body_add(&b, false, doc, XRAY_MAX_DOCUMENT_BYTES + 1), -EMSGSIZE);
    assert_int_equal(b.len, len);
    assert_int_equal(xray_body_add(&b, false, doc, XRAY_MAX_DOCUMENT_BYTES), 0);
    len = b.len;

    /* 65,535 bytes, one of them invalid UTF-8: 65,537 bytes once repaired. */
    doc[100] = 0xC0;
    assert_int_equal(xray_body_add(&b, false, doc, XRAY_MAX_DOCUMENT_BYTES - 1), -EMSGSIZE);
    assert_int_equal(b.len, len);
    assert_int_equal(b.data[b.len], '\0');
    /* 65,534 bytes with one repair: exactly 64 KiB. */
    assert_int_equal(xray_body_add(&b, false, doc, XRAY_MAX_DOCUMENT_BYTES - 2), 0);

    assert_int_equal(xray_body_add(&b, false, doc, 0), -EINVAL);
    assert_int_equal(xray_body_end(&b), 0);
    json_t *list = documents_of(&b);
    assert_int_equal(json_array_size(list), 3);
    assert_int_equal(json_string_length(json_array_get(list, 1)), XRAY_MAX_DOCUMENT_BYTES);
    assert_int_equal(json_string_length(json_array_get(list, 2)), XRAY_MAX_DOCUMENT_BYTES);
    json_decref(list);
    buf_release(&b);
    free(doc);
}

static void test_worst_case_body_fits_the_cap(void **state)
{
    (void)state;
    /* 50 documents of 64 KiB of control characters: every byte a 6-byte escape. */
    uint8_t *doc = malloc(XRAY_MAX_DOCUMENT_BYTES);
    assert_non_null(doc);
    memset(doc, 0x01, XRAY_MAX_DOCUMENT_BYTES);
    struct buf b;
    buf_init(&b, XRAY_MAX_BODY_BYTES);
    assert_int_equal(xray_body_begin(&b), 0);
    for (unsigned i = 0; i < XRAY_MAX_DOCUMENTS; i++)
        assert_int_equal(xray_body_add(&b, i == 0, doc, XRAY_MAX_DOCUMENT_BYTES), 0);
    assert_int_equal(xray_body_end(&b), 0);
    assert_true(b.len <= XRAY_MAX_BODY_BYTES);
    buf_release(&b);
    free(doc);
}

static void test_full_buffer_leaves_body_valid(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 256);
    assert_int_equal(xray_body_begin(&b), 0);
    assert_int_equal(add_str(&b, true, SEGMENT), 0);
    size_t len = b.len;
    assert_int_equal(add_str(&b, false, SEGMENT), -ENOBUFS);
    assert_int_equal(b.len, len);
    assert_int_equal(xray_body_end(&b), 0);
    json_t *list = documents_of(&b);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    buf_release(&b);
}

static int id_of(const char *doc, char *id)
{
    return xray_document_id((const uint8_t *)doc, strlen(doc), id);
}

static void test_document_id(void **state)
{
    (void)state;
    char id[XRAY_ID_MAX + 1];
    assert_int_equal(id_of(SEGMENT, id), 0);
    assert_string_equal(id, "70de5b6f19ff9a0a");
    /* What the generate collector emits. */
    assert_int_equal(id_of("{\"name\":\"osprey-generate\",\"id\":\"0000000000000007\",\"trace_id\":"
                           "\"1-6553f100-000000000000000000000007\",\"start_time\":1.5,"
                           "\"end_time\":1.501,\"annotations\":{\"n\":6}}",
                           id),
                     0);
    assert_string_equal(id, "0000000000000007");
    /* Nested ids, "id" inside strings, escaped keys and arrays are skipped. */
    assert_int_equal(
        id_of(" { \"subsegments\" : [ {\"id\":\"aaaaaaaaaaaaaaaa\"}, \"]}\" ], "
              "\"name\":\"\\\"id\\\":\\\"x\\\"\", \"i\\u0064\":\"bbbbbbbbbbbbbbbb\", "
              "\"n\": -1.5e3, \"t\" : true, \"z\":null, \"id\" : \"cccccccccccccccc\" }",
              id),
        0);
    assert_string_equal(id, "cccccccccccccccc");

    assert_int_equal(id_of("{}", id), -ENOENT);
    assert_string_equal(id, "");
    assert_int_equal(id_of("{\"name\":\"x\"}", id), -ENOENT);
    assert_int_equal(id_of("{\"id\":7}", id), -ENOENT);
    assert_int_equal(id_of("{\"id\":\"\"}", id), -ENOENT);
    assert_int_equal(id_of("{\"id\":\"a\\u0062\"}", id), -ENOENT);
    assert_int_equal(id_of("{\"id\":\"ab\x01\"}", id), -ENOENT);
    assert_int_equal(xray_document_id((const uint8_t *)"{\"id\":\"a\0b\"}", 11, id), -ENOENT);
    assert_int_equal(id_of("{\"id\":\"caf\xc3\xa9\"}", id), -ENOENT);
    char long_doc[200];
    snprintf(long_doc, sizeof(long_doc), "{\"id\":\"%065d\"}", 0);
    assert_int_equal(id_of(long_doc, id), -ENOENT);
    snprintf(long_doc, sizeof(long_doc), "{\"id\":\"%064d\"}", 0);
    assert_int_equal(id_of(long_doc, id), 0);
    assert_int_equal(strlen(id), XRAY_ID_MAX);

    assert_int_equal(id_of("", id), -EBADMSG);
    assert_int_equal(id_of("[\"id\"]", id), -EBADMSG);
    assert_int_equal(id_of("{\"name\":\"x\"", id), -EBADMSG);
    assert_int_equal(id_of("{\"name\":\"x", id), -EBADMSG);
    assert_int_equal(id_of("{\"name\" \"x\"}", id), -EBADMSG);
    assert_int_equal(id_of("{\"a\":{\"b\":[1,2}", id), -EBADMSG);
    assert_int_equal(id_of("{\"a\":}", id), -EBADMSG);
    assert_int_equal(id_of("{\"id\":\"abc", id), -EBADMSG);
    assert_int_equal(id_of("{\"a\":\"\\", id), -EBADMSG);
}

static int parse(const char *body, struct xray_unprocessed *items, size_t max, size_t *total)
{
    return xray_parse_response((const uint8_t *)body, strlen(body), items, max, total);
}

static void test_parse_response(void **state)
{
    (void)state;
    struct xray_unprocessed items[4];
    size_t total = 99;
    assert_int_equal(parse("", items, 4, &total), 0);
    assert_int_equal(total, 0);
    assert_int_equal(parse(" \n", items, 4, &total), 0);
    assert_int_equal(total, 0);
    assert_int_equal(parse("{}", items, 4, &total), 0);
    assert_int_equal(total, 0);
    assert_int_equal(parse("{\"UnprocessedTraceSegments\":[]}", items, 4, &total), 0);
    assert_int_equal(total, 0);
    assert_int_equal(parse("{\"UnprocessedTraceSegments\":null}", items, 4, &total), 0);
    assert_int_equal(total, 0);

    assert_int_equal(parse("{\"UnprocessedTraceSegments\":[{\"Id\":\"70de5b6f19ff9a0a\","
                           "\"ErrorCode\":\"InvalidTraceId\",\"Message\":\"Invalid segment. "
                           "ErrorCode: InvalidTraceId\"},{\"ErrorCode\":\"MissingId\"},7,"
                           "{\"Id\":12,\"Message\":\"a\\nb\\u0001c\"}],\"Other\":1}",
                           items, 4, &total),
                     0);
    assert_int_equal(total, 4);
    assert_string_equal(items[0].id, "70de5b6f19ff9a0a");
    assert_string_equal(items[0].error_code, "InvalidTraceId");
    assert_string_equal(items[0].message, "Invalid segment. ErrorCode: InvalidTraceId");
    assert_string_equal(items[1].id, "");
    assert_string_equal(items[1].error_code, "MissingId");
    assert_string_equal(items[1].message, "");
    assert_string_equal(items[2].id, ""); /* not an object: counted, nothing known */
    assert_string_equal(items[3].id, "");
    assert_string_equal(items[3].message, "a?b?c");
    /* A NUL in a field does not make the answer unreadable. */
    assert_int_equal(
        parse("{\"UnprocessedTraceSegments\":[{\"Message\":\"a\\u0000b\\tc\"}]}", items, 4, &total),
        0);
    assert_int_equal(total, 1);
    assert_string_equal(items[0].message, "a?b?c");

    /* More entries than room: all counted, the first `max` kept. */
    assert_int_equal(parse("{\"UnprocessedTraceSegments\":[{\"Id\":\"1\"},{\"Id\":\"2\"},"
                           "{\"Id\":\"3\"}]}",
                           items, 2, &total),
                     0);
    assert_int_equal(total, 3);
    assert_string_equal(items[1].id, "2");

    assert_int_equal(parse("not json", items, 4, &total), -EBADMSG);
    assert_int_equal(total, 0);
    assert_int_equal(parse("[]", items, 4, &total), -EBADMSG);
    assert_int_equal(parse("{\"UnprocessedTraceSegments\":{}}", items, 4, &total), -EBADMSG);
    assert_int_equal(parse("{\"UnprocessedTraceSegments\":\"x\"}", items, 4, &total), -EBADMSG);
    assert_int_equal(parse("{\"UnprocessedTraceSegments\":[]", items, 4, &total), -EBADMSG);
    assert_int_equal(parse("<html>Bad Gateway</html>", items, 4, &total), -EBADMSG);
}

static void test_parse_truncates_at_utf8_boundary(void **state)
{
    (void)state;
    /* A message of 255 'a' then a 3-byte character: the character does not fit. */
    char body[600];
    char msg[300];
    memset(msg, 'a', 255);
    memcpy(msg + 255, "\xe2\x82\xac", 4);
    snprintf(body, sizeof(body), "{\"UnprocessedTraceSegments\":[{\"Message\":\"%s\"}]}", msg);
    struct xray_unprocessed item;
    size_t total;
    assert_int_equal(parse(body, &item, 1, &total), 0);
    assert_int_equal(strlen(item.message), 255);
    /* With 254 'a' the character still does not fit in 256 - 1 bytes. */
    memmove(msg + 254, msg + 255, 4);
    snprintf(body, sizeof(body), "{\"UnprocessedTraceSegments\":[{\"Message\":\"%s\"}]}", msg);
    assert_int_equal(parse(body, &item, 1, &total), 0);
    assert_int_equal(strlen(item.message), 254);
    /* With 253 it fits exactly. */
    memmove(msg + 253, msg + 254, 4);
    snprintf(body, sizeof(body), "{\"UnprocessedTraceSegments\":[{\"Message\":\"%s\"}]}", msg);
    assert_int_equal(parse(body, &item, 1, &total), 0);
    assert_int_equal(strlen(item.message), 256);
}

static void test_mark_unprocessed(void **state)
{
    (void)state;
    struct xray_doc docs[4] = {
        {"aaaaaaaaaaaaaaaa", false},
        {"", false},
        {"bbbbbbbbbbbbbbbb", false},
        {"aaaaaaaaaaaaaaaa", false},
    };
    struct xray_unprocessed items[5];
    memset(items, 0, sizeof(items));
    snprintf(items[0].id, sizeof(items[0].id), "aaaaaaaaaaaaaaaa");
    snprintf(items[1].id, sizeof(items[1].id), "aaaaaaaaaaaaaaaa");
    snprintf(items[2].id, sizeof(items[2].id), "aaaaaaaaaaaaaaaa"); /* a third: no match */
    items[3].id[0] = '\0';                                          /* MissingId */
    snprintf(items[4].id, sizeof(items[4].id), "cccccccccccccccc"); /* not in the batch */
    assert_int_equal(xray_mark_unprocessed(docs, 4, items, 5), 3);
    assert_true(docs[0].rejected);
    assert_false(docs[1].rejected);
    assert_false(docs[2].rejected);
    assert_true(docs[3].rejected);
    assert_int_equal(xray_mark_unprocessed(docs, 4, items, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_round_trip),
        cmocka_unit_test(test_body_repairs_invalid_utf8_and_escapes_controls),
        cmocka_unit_test(test_document_size_limit_at_the_edge),
        cmocka_unit_test(test_worst_case_body_fits_the_cap),
        cmocka_unit_test(test_full_buffer_leaves_body_valid),
        cmocka_unit_test(test_document_id),
        cmocka_unit_test(test_parse_response),
        cmocka_unit_test(test_parse_truncates_at_utf8_boundary),
        cmocka_unit_test(test_mark_unprocessed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
