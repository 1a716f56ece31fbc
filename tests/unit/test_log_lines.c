/*
 * Tests for collectors/log_lines.{h,c}: "\n" and "\r\n" framing with offsets, the held
 * partial line across feeds (with the caller's buffer reused), log_lines_finish(), long
 * lines cut into flagged parts (and the "\r\n" that straddles a cut), reset, and the
 * equivalence of any chunking of the same bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/log_lines.h"

#define MAX_OUT 256

struct out_line {
    char text[512];
    size_t len;
    uint64_t start_off, end_off;
    unsigned part;
};

struct out {
    struct out_line l[MAX_OUT];
    size_t n;
};

static void drain(struct log_lines *f, struct out *o)
{
    struct log_line line;
    while (log_lines_next(f, &line)) {
        assert_true(o->n < MAX_OUT);
        assert_true(line.len < sizeof(o->l[0].text));
        struct out_line *ol = &o->l[o->n++];
        memcpy(ol->text, line.data, line.len);
        ol->text[line.len] = '\0';
        ol->len = line.len;
        ol->start_off = line.start_off;
        ol->end_off = line.end_off;
        ol->part = line.part;
    }
}

/* Feed `s` in chunks of `chunk` bytes through a scratch buffer that is overwritten after
 * every drain, as a tailer's read buffer would be. */
static void feed_chunked(struct log_lines *f, const char *s, size_t len, size_t chunk,
                         struct out *o)
{
    uint8_t scratch[64];
    assert_true(chunk <= sizeof(scratch));
    size_t pos = 0;
    /* The first feed must start where the framer expects: where its last feed ended. */
    uint64_t off = f->data_off + f->len;
    while (pos < len) {
        size_t n = len - pos < chunk ? len - pos : chunk;
        memcpy(scratch, s + pos, n);
        log_lines_feed(f, scratch, n, off);
        drain(f, o);
        memset(scratch, 'Z', sizeof(scratch));
        off += n;
        pos += n;
    }
}

static void expect(const struct out *o, size_t i, const char *text, uint64_t start, uint64_t end,
                   unsigned part)
{
    assert_true(i < o->n);
    assert_string_equal(o->l[i].text, text);
    assert_int_equal(o->l[i].start_off, start);
    assert_int_equal(o->l[i].end_off, end);
    assert_int_equal(o->l[i].part, part);
}

static void test_lf_and_crlf(void **state)
{
    (void)state;
    struct log_lines f;
    assert_int_equal(log_lines_init(&f, 64), 0);
    static struct out o;
    o.n = 0;
    const char *s = "one\ntwo\r\n\nthree\r\rfour\r\n";
    log_lines_feed(&f, (const uint8_t *)s, strlen(s), 0);
    drain(&f, &o);
    assert_int_equal(o.n, 4);
    expect(&o, 0, "one", 0, 4, LOG_LINE_WHOLE);
    expect(&o, 1, "two", 4, 9, LOG_LINE_WHOLE);
    expect(&o, 2, "", 9, 10, LOG_LINE_WHOLE);
    expect(&o, 3, "three\r\rfour", 10, strlen(s), LOG_LINE_WHOLE); /* a lone '\r' is data */
    assert_int_equal(log_lines_consumed_offset(&f), strlen(s));
    log_lines_release(&f);
    log_lines_release(&f); /* released twice: still safe */
}

static void test_partial_line_held_across_feeds(void **state)
{
    (void)state;
    struct log_lines f;
    assert_int_equal(log_lines_init(&f, 64), 0);
    static struct out o;
    o.n = 0;
    feed_chunked(&f, "alpha\nbra", 9, 9, &o);
    assert_int_equal(o.n, 1);
    assert_int_equal(log_lines_consumed_offset(&f), 6); /* "bra" is held, not consumed */
    feed_chunked(&f, "vo\r", 3, 3, &o);
    assert_int_equal(o.n, 1); /* "\r" may still become "\r\n" */
    feed_chunked(&f, "\ncharlie", 8, 8, &o);
    assert_int_equal(o.n, 2);
    expect(&o, 1, "bravo", 6, 13, LOG_LINE_WHOLE);
    assert_int_equal(log_lines_consumed_offset(&f), 13);

    /* The file is rotated and read to its end: the partial becomes a line. */
    log_lines_finish(&f);
    drain(&f, &o);
    assert_int_equal(o.n, 3);
    expect(&o, 2, "charlie", 13, 20, LOG_LINE_WHOLE);
    assert_int_equal(log_lines_consumed_offset(&f), 20);
    struct log_line line;
    assert_false(log_lines_next(&f, &line));
    log_lines_release(&f);
}

static void test_finish_keeps_trailing_cr_as_data(void **state)
{
    (void)state;
    struct log_lines f;
    assert_int_equal(log_lines_init(&f, 64), 0);
    static struct out o;
    o.n = 0;
    feed_chunked(&f, "end\r", 4, 4, &o);
    assert_int_equal(o.n, 0);
    log_lines_finish(&f);
    drain(&f, &o);
    assert_int_equal(o.n, 1);
    expect(&o, 0, "end\r", 0, 4, LOG_LINE_WHOLE);
    log_lines_release(&f);
}

static void test_long_line_cut_into_parts(void **state)
{
    (void)state;
    struct log_lines f;
    assert_int_equal(log_lines_init(&f, 8), 0);
    static struct out o;
    o.n = 0;
    const char *s = "0123456789abcdefXYZW\nshort\n";
    log_lines_feed(&f, (const uint8_t *)s, strlen(s), 0);
    drain(&f, &o);
    assert_int_equal(o.n, 4);
    expect(&o, 0, "01234567", 0, 8, LOG_LINE_PART_FIRST);
    expect(&o, 1, "89abcdef", 8, 16, LOG_LINE_PART_MIDDLE);
    expect(&o, 2, "XYZW", 16, 21, LOG_LINE_PART_LAST);
    expect(&o, 3, "short", 21, 27, LOG_LINE_WHOLE);
    log_lines_release(&f);
}

static void test_crlf_at_the_cut(void **state)
{
    (void)state;
    /* Exactly max_line bytes then "\r\n" is one whole line, whatever the chunking. */
    for (size_t chunk = 1; chunk <= 12; chunk++) {
        struct log_lines f;
        assert_int_equal(log_lines_init(&f, 4), 0);
        static struct out o;
        o.n = 0;
        const char *s = "abcd\r\nabcde\r\nab\r\r\n";
        feed_chunked(&f, s, strlen(s), chunk, &o);
        assert_int_equal(o.n, 4);
        expect(&o, 0, "abcd", 0, 6, LOG_LINE_WHOLE);
        expect(&o, 1, "abcd", 6, 10, LOG_LINE_PART_FIRST);
        expect(&o, 2, "e", 10, 13, LOG_LINE_PART_LAST);
        expect(&o, 3, "ab\r", 13, 18, LOG_LINE_WHOLE);
        log_lines_release(&f);
    }
}

static void test_long_partial_then_finish(void **state)
{
    (void)state;
    struct log_lines f;
    assert_int_equal(log_lines_init(&f, 4), 0);
    static struct out o;
    o.n = 0;
    feed_chunked(&f, "abcdefghij", 10, 3, &o);
    assert_int_equal(o.n, 2); /* two parts are certain; "ij" is held */
    expect(&o, 0, "abcd", 0, 4, LOG_LINE_PART_FIRST);
    expect(&o, 1, "efgh", 4, 8, LOG_LINE_PART_MIDDLE);
    assert_int_equal(log_lines_consumed_offset(&f), 8);
    log_lines_finish(&f);
    drain(&f, &o);
    assert_int_equal(o.n, 3);
    expect(&o, 2, "ij", 8, 10, LOG_LINE_PART_LAST);
    log_lines_release(&f);
}

static void test_reset(void **state)
{
    (void)state;
    struct log_lines f;
    assert_int_equal(log_lines_init(&f, 4), 0);
    static struct out o;
    o.n = 0;
    feed_chunked(&f, "abcdefg", 7, 7, &o);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.l[0].part, LOG_LINE_PART_FIRST);
    /* The file was truncated: start over at 0; the long-line state is forgotten too. */
    log_lines_reset(&f, 0);
    assert_int_equal(log_lines_consumed_offset(&f), 0);
    feed_chunked(&f, "xy\n", 3, 3, &o);
    assert_int_equal(o.n, 2);
    expect(&o, 1, "xy", 0, 3, LOG_LINE_WHOLE);
    /* Reset at another offset: the next feed is expected there. */
    log_lines_reset(&f, 1000);
    log_lines_feed(&f, (const uint8_t *)"q\n", 2, 1000);
    drain(&f, &o);
    expect(&o, 2, "q", 1000, 1002, LOG_LINE_WHOLE);
    log_lines_release(&f);
}

static void test_init_rejects_zero(void **state)
{
    (void)state;
    struct log_lines f;
    assert_int_equal(log_lines_init(&f, 0), -EINVAL);
    log_lines_release(&f);
}

static void test_every_chunking_gives_the_same_lines(void **state)
{
    (void)state;
    const char *s = "2024-01-01 a\r\nbb\n\r\n0123456789\r\r\nxyz\r\nlast-partial";
    static struct out ref, got;
    for (size_t max_line = 1; max_line <= 12; max_line++) {
        struct log_lines f;
        assert_int_equal(log_lines_init(&f, max_line), 0);
        ref.n = 0;
        log_lines_feed(&f, (const uint8_t *)s, strlen(s), 0);
        drain(&f, &ref);
        log_lines_finish(&f);
        drain(&f, &ref);
        log_lines_release(&f);
        /* Coverage: lines + terminators rebuild the input. */
        size_t pos = 0;
        for (size_t i = 0; i < ref.n; i++) {
            assert_int_equal(ref.l[i].start_off, pos);
            assert_true(ref.l[i].len <= max_line);
            assert_memory_equal(ref.l[i].text, s + pos, ref.l[i].len);
            pos = ref.l[i].end_off;
        }
        assert_int_equal(pos, strlen(s));

        for (size_t chunk = 1; chunk <= 17; chunk++) {
            assert_int_equal(log_lines_init(&f, max_line), 0);
            got.n = 0;
            feed_chunked(&f, s, strlen(s), chunk, &got);
            log_lines_finish(&f);
            drain(&f, &got);
            log_lines_release(&f);
            assert_int_equal(got.n, ref.n);
            for (size_t i = 0; i < ref.n; i++)
                expect(&got, i, ref.l[i].text, ref.l[i].start_off, ref.l[i].end_off, ref.l[i].part);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lf_and_crlf),
        cmocka_unit_test(test_partial_line_held_across_feeds),
        cmocka_unit_test(test_finish_keeps_trailing_cr_as_data),
        cmocka_unit_test(test_long_line_cut_into_parts),
        cmocka_unit_test(test_crlf_at_the_cut),
        cmocka_unit_test(test_long_partial_then_finish),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_init_rejects_zero),
        cmocka_unit_test(test_every_chunking_gives_the_same_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
