/*
 * log_event: see log_event.h.
 *
 * DESIGN. One buffer, `cur`, holds the pending event as repaired UTF-8. A line is first
 * converted into the `line` scratch buffer (so the start pattern sees what CloudWatch
 * will see, and so a refused offer leaves no trace), then either starts the event or is
 * appended to it. "Ready" is a state of `cur`, not a queue: the event is ready when it is
 * closed (a start line arrived, the wait ran out, or no pattern is set) or when it is
 * longer than max_event_bytes (its front part is ready). A start line that finds an event
 * pending closes it and answers -EBUSY, so there is never more than one event in the
 * builder and nothing is ever copied twice; the start decision is cached so the re-offer
 * does not run the regex again. An all-ASCII line (found 16 bytes at a time) needs no
 * conversion in any supported encoding, so it skips the scratch and goes straight into
 * `cur`: the common case costs one scan and one copy. The UTF-8 decoder state survives between the
 * parts of a long line, so a character cut by log_lines is joined, not repaired.
 */
#include "agent/log.h"
#include "collectors/log_event.h"

#include "agent/buf.h"
#include "collectors/log_time.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* A hard stop far above any real event: max_event_bytes plus three times a line that
 * log_lines allows. */
#define LOG_EVENT_BUF_MAX (SIZE_MAX / 4)

enum log_encoding {
    LOG_ENC_UTF8 = 0,
    LOG_ENC_ASCII,
    LOG_ENC_LATIN1,
};

static const struct {
    const char *name;
    enum log_encoding enc;
} encoding_names[] = {
    {"utf-8", LOG_ENC_UTF8},     {"utf8", LOG_ENC_UTF8},         {"utf_8", LOG_ENC_UTF8},
    {"ascii", LOG_ENC_ASCII},    {"us-ascii", LOG_ENC_ASCII},    {"latin1", LOG_ENC_LATIN1},
    {"latin-1", LOG_ENC_LATIN1}, {"iso-8859-1", LOG_ENC_LATIN1}, {"iso8859-1", LOG_ENC_LATIN1},
};

/* Where a UTF-8 decode stands between two parts of one line. */
struct utf8_state {
    uint8_t pend[4];
    uint8_t npend;  /* bytes of an incomplete character seen so far */
    uint8_t need;   /* continuation bytes still expected */
    uint8_t lo, hi; /* the range the next continuation byte must fall in */
};

struct log_regex {
    pcre2_code *code;
    pcre2_match_data *md; /* created once: matching allocates nothing */
    bool utf;             /* compiled with PCRE2_UTF */
    bool exclude;
};

enum filter_state {
    FILTER_UNDECIDED = 0,
    FILTER_KEEP,
    FILTER_DROP,
};

struct log_event_builder {
    enum log_encoding enc;
    size_t max_event_bytes;
    uint64_t wait_ns;
    bool has_pattern;
    struct log_regex start; /* code == NULL: none, or start_by_time */
    bool start_by_time;
    struct log_time_format *tfmt;
    struct log_regex *filters;
    size_t n_filters;

    struct buf line;       /* the offered line, converted */
    struct utf8_state dec; /* committed decoder state (between parts of a line) */

    struct buf cur; /* the pending event */
    bool has_event;
    bool closed; /* no more lines join it: ready once it fits */
    uint64_t ts_ns, start_off, end_off, last_line_ns;
    size_t parts_out; /* parts of it already popped */
    enum filter_state filter;

    /* The start decision for the line refused with -EBUSY, for its re-offer. */
    bool cached;
    const uint8_t *cached_data;
    size_t cached_len;
    uint64_t cached_off;
    unsigned cached_part;

    struct log_event_counters counters;
};

static bool ascii_case_equal(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        if (x != *b)
            return false;
    }
    return *a == *b;
}

/* Length of the ASCII prefix of p[0, n): 16 bytes at a time with SSE2, else 8 at a time,
 * because nearly all log text is ASCII and a byte loop here was the tailer's top cost. */
static size_t ascii_prefix(const uint8_t *p, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    for (; i + 16 <= n; i += 16) {
        int high = _mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)));
        if (high)
            return i + (size_t)__builtin_ctz((unsigned)high);
    }
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, sizeof(w));
        if (w & 0x8080808080808080ull)
            break;
    }
    while (i < n && p[i] < 0x80)
        i++;
    return i;
}

static uint8_t *put_replacement(uint8_t *w)
{
    *w++ = 0xEF;
    *w++ = 0xBF;
    *w++ = 0xBD;
    return w;
}

/* Decode p[0, n) as UTF-8 into w, replacing each maximal subpart of an ill-formed
 * sequence (Unicode Table 3-7 ranges) with U+FFFD. An incomplete character at the end
 * stays in *st unless `ends` (the line is over). Writes at most 3 * n + 4 bytes. */
static size_t utf8_repair(struct utf8_state *st, const uint8_t *p, size_t n, bool ends,
                          uint8_t *out, uint64_t *repaired)
{
    uint8_t *w = out;
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (st->need == 0) {
            if (c < 0x80) {
                /* ASCII runs (most log text) are copied whole. */
                size_t j = i + 1 + ascii_prefix(p + i + 1, n - i - 1);
                memcpy(w, p + i, j - i);
                w += j - i;
                i = j;
                continue;
            }
            if (c >= 0xC2 && c <= 0xDF) {
                st->need = 1, st->lo = 0x80, st->hi = 0xBF;
            } else if (c == 0xE0) {
                st->need = 2, st->lo = 0xA0, st->hi = 0xBF; /* no overlongs */
            } else if (c == 0xED) {
                st->need = 2, st->lo = 0x80, st->hi = 0x9F; /* no surrogates */
            } else if (c >= 0xE1 && c <= 0xEF) {
                st->need = 2, st->lo = 0x80, st->hi = 0xBF;
            } else if (c == 0xF0) {
                st->need = 3, st->lo = 0x90, st->hi = 0xBF; /* no overlongs */
            } else if (c >= 0xF1 && c <= 0xF3) {
                st->need = 3, st->lo = 0x80, st->hi = 0xBF;
            } else if (c == 0xF4) {
                st->need = 3, st->lo = 0x80, st->hi = 0x8F; /* nothing past U+10FFFF */
            } else {
                /* 80..C1, F5..FF never start a character. */
                w = put_replacement(w);
                (*repaired)++;
                i++;
                continue;
            }
            st->pend[0] = c;
            st->npend = 1;
            i++;
            continue;
        }
        if (c >= st->lo && c <= st->hi) {
            st->pend[st->npend++] = c;
            st->lo = 0x80, st->hi = 0xBF;
            i++;
            if (--st->need == 0) {
                memcpy(w, st->pend, st->npend);
                w += st->npend;
                st->npend = 0;
            }
            continue;
        }
        /* The maximal subpart ends before c: one U+FFFD for it, then look at c again. */
        w = put_replacement(w);
        *repaired += st->npend;
        st->npend = 0;
        st->need = 0;
    }
    if (ends && st->need) {
        w = put_replacement(w);
        *repaired += st->npend;
        st->npend = 0;
        st->need = 0;
    }
    return (size_t)(w - out);
}

/* Convert one line (or part) into b->line, with the decoder state *st. */
static int convert_line(struct log_event_builder *b, struct utf8_state *st, const uint8_t *p,
                        size_t n, bool ends, uint64_t *repaired)
{
    buf_reset(&b->line);
    if (n > (LOG_EVENT_BUF_MAX - 4) / 3)
        return -ENOBUFS;
    int r = buf_reserve(&b->line, 3 * n + 4);
    if (r != 0)
        return r;
    uint8_t *w = b->line.data;
    switch (b->enc) {
    case LOG_ENC_UTF8:
        buf_advance(&b->line, utf8_repair(st, p, n, ends, w, repaired));
        return 0;
    case LOG_ENC_ASCII:
        for (size_t i = 0; i < n; i++) {
            if (p[i] < 0x80) {
                *w++ = p[i];
            } else {
                w = put_replacement(w);
                (*repaired)++;
            }
        }
        break;
    case LOG_ENC_LATIN1:
        for (size_t i = 0; i < n; i++) {
            if (p[i] < 0x80) {
                *w++ = p[i];
            } else {
                *w++ = (uint8_t)(0xC0 | (p[i] >> 6));
                *w++ = (uint8_t)(0x80 | (p[i] & 0x3F));
            }
        }
        break;
    }
    buf_advance(&b->line, (size_t)(w - b->line.data));
    return 0;
}

static bool valid_utf8(const char *s)
{
    struct utf8_state st = {0};
    uint64_t repaired = 0;
    size_t n = strlen(s);
    uint8_t *tmp = malloc(3 * n + 4);
    if (!tmp)
        return false;
    utf8_repair(&st, (const uint8_t *)s, n, true, tmp, &repaired);
    free(tmp);
    return repaired == 0;
}

static int regex_compile(struct log_regex *re, const char *what, const char *expr, char *err,
                         size_t err_len)
{
    /* Subjects are always valid UTF-8 here (converted and repaired first, whatever the
     * file's encoding), so a pattern that is itself valid UTF-8 is compiled in UTF mode
     * (one '.' = one character) and matched without PCRE2's per-call UTF check. */
    uint32_t options = valid_utf8(expr) ? PCRE2_UTF : 0;
    int code;
    PCRE2_SIZE offset;
    re->code =
        pcre2_compile((PCRE2_SPTR)expr, PCRE2_ZERO_TERMINATED, options, &code, &offset, NULL);
    if (!re->code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof(msg));
        log_format_error(err, err_len, "bad %s '%s' at offset %zu: %s", what, expr, (size_t)offset,
                         (const char *)msg);
        return -EINVAL;
    }
    re->utf = options != 0;
    /* JIT when available (and when it fails, the interpreter does the same work). */
    (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
    re->md = pcre2_match_data_create_from_pattern(re->code, NULL);
    if (!re->md)
        return -ENOMEM;
    return 0;
}

static void regex_release(struct log_regex *re)
{
    pcre2_match_data_free(re->md);
    pcre2_code_free(re->code);
    re->md = NULL;
    re->code = NULL;
}

static bool regex_match(const struct log_regex *re, const uint8_t *s, size_t len)
{
    uint32_t options = re->utf ? PCRE2_NO_UTF_CHECK : 0;
    /* A match error (e.g. the match limit) counts as no match. */
    return pcre2_match(re->code, s ? (PCRE2_SPTR)s : (PCRE2_SPTR) "", len, 0, options, re->md,
                       NULL) >= 0;
}

int log_event_builder_create(const struct log_event_opts *o, char *err, size_t err_len,
                             struct log_event_builder **ret)
{
    int r;
    struct log_event_builder *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    buf_init(&b->line, LOG_EVENT_BUF_MAX);
    buf_init(&b->cur, LOG_EVENT_BUF_MAX);
    b->max_event_bytes = o->max_event_bytes ? o->max_event_bytes : LOG_EVENT_MAX_EVENT_BYTES;
    b->wait_ns =
        o->multi_line_wait_ns ? o->multi_line_wait_ns : LOG_EVENT_DEFAULT_MULTI_LINE_WAIT_NS;
    if (b->max_event_bytes < LOG_EVENT_MIN_EVENT_BYTES) {
        log_format_error(err, err_len, "max_event_bytes %zu is below %u", b->max_event_bytes,
                         LOG_EVENT_MIN_EVENT_BYTES);
        r = -EINVAL;
        goto fail;
    }

    const char *enc = o->encoding && *o->encoding ? o->encoding : "utf-8";
    bool known = false;
    for (size_t i = 0; i < sizeof(encoding_names) / sizeof(encoding_names[0]); i++) {
        if (ascii_case_equal(enc, encoding_names[i].name)) {
            b->enc = encoding_names[i].enc;
            known = true;
            break;
        }
    }
    if (!known) {
        log_format_error(err, err_len,
                         "unsupported encoding '%s' (supported: utf-8, ascii, latin1/iso-8859-1)",
                         enc);
        r = -EINVAL;
        goto fail;
    }

    if (o->timestamp_format && *o->timestamp_format) {
        r = log_time_format_compile(o->timestamp_format, o->timezone_utc, err, err_len, &b->tfmt);
        if (r != 0)
            goto fail;
    }

    const char *pattern = o->multi_line_start_pattern;
    if (pattern && *pattern) {
        b->has_pattern = true;
        if (strcmp(pattern, LOG_EVENT_TIMESTAMP_FORMAT_PLACEHOLDER) == 0) {
            if (!b->tfmt) {
                log_format_error(err, err_len,
                                 "multi_line_start_pattern '%s' needs a timestamp_format", pattern);
                r = -EINVAL;
                goto fail;
            }
            b->start_by_time = true;
        } else {
            r = regex_compile(&b->start, "multi_line_start_pattern", pattern, err, err_len);
            if (r != 0)
                goto fail;
        }
    }

    if (o->n_filters > 0) {
        b->filters = calloc(o->n_filters, sizeof(*b->filters));
        if (!b->filters) {
            r = -ENOMEM;
            goto fail;
        }
        b->n_filters = o->n_filters;
        for (size_t i = 0; i < o->n_filters; i++) {
            const char *expr = o->filters[i].expression ? o->filters[i].expression : "";
            b->filters[i].exclude = o->filters[i].exclude;
            r = regex_compile(&b->filters[i], "filter expression", expr, err, err_len);
            if (r != 0)
                goto fail;
        }
    }
    *ret = b;
    return 0;

fail:
    log_event_builder_free(b);
    return r;
}

void log_event_builder_free(struct log_event_builder *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n_filters; i++)
        regex_release(&b->filters[i]);
    free(b->filters);
    regex_release(&b->start);
    log_time_format_free(b->tfmt);
    buf_release(&b->line);
    buf_release(&b->cur);
    free(b);
}

static bool event_ready(const struct log_event_builder *b)
{
    return b->has_event && (b->closed || b->cur.len > b->max_event_bytes);
}

/* The ready part's length: all of a closed event that fits, else the longest prefix of
 * at most max_event_bytes that ends on a character boundary. */
static size_t head_len(const struct log_event_builder *b, bool *ret_last)
{
    size_t len = b->cur.len;
    if (len <= b->max_event_bytes) {
        *ret_last = true;
        return len;
    }
    size_t k = b->max_event_bytes;
    /* cur is valid UTF-8: at most 3 continuation bytes to step back over. */
    while (k > 0 && (b->cur.data[k] & 0xC0) == 0x80)
        k--;
    *ret_last = false;
    return k;
}

static bool event_filtered(struct log_event_builder *b, size_t len)
{
    if (b->filter == FILTER_UNDECIDED) {
        b->filter = FILTER_KEEP;
        for (size_t i = 0; i < b->n_filters; i++) {
            bool match = regex_match(&b->filters[i], b->cur.data, len);
            if (match == b->filters[i].exclude) {
                b->filter = FILTER_DROP;
                b->counters.filtered++;
                break;
            }
        }
    }
    return b->filter == FILTER_DROP;
}

bool log_event_builder_peek(struct log_event_builder *b, struct built_event *ret)
{
    if (!event_ready(b))
        return false;
    bool last;
    size_t len = head_len(b, &last);
    bool filtered = event_filtered(b, len);
    ret->msg = filtered || !b->cur.data ? (const uint8_t *)"" : b->cur.data;
    ret->len = filtered ? 0 : len;
    ret->ts_ns = b->ts_ns;
    ret->start_off = b->start_off;
    ret->end_off = b->end_off;
    ret->filtered = filtered;
    ret->last_part = last;
    return true;
}

void log_event_builder_pop(struct log_event_builder *b)
{
    if (!event_ready(b))
        return;
    bool last;
    size_t len = head_len(b, &last);
    (void)event_filtered(b, len);
    if (!last) {
        if (b->parts_out == 0)
            b->counters.split_events++;
        b->counters.split_parts++;
        b->parts_out++;
        buf_consume(&b->cur, len);
        return;
    }
    if (b->parts_out > 0)
        b->counters.split_parts++;
    b->counters.events++;
    buf_reset(&b->cur);
    b->has_event = false;
    b->closed = false;
    b->parts_out = 0;
    b->filter = FILTER_UNDECIDED;
}

/* text[0, text_len): the line converted to UTF-8. */
static bool line_starts_event(struct log_event_builder *b, const struct log_line *line,
                              const uint8_t *text, size_t text_len)
{
    if (line->part == LOG_LINE_PART_MIDDLE || line->part == LOG_LINE_PART_LAST)
        return !b->has_event; /* the line's start was lost (reset): start anyway */
    if (!b->has_pattern || !b->has_event)
        return true;
    if (b->cached && b->cached_data == line->data && b->cached_len == line->len &&
        b->cached_off == line->start_off && b->cached_part == line->part)
        return true; /* only a start line is ever refused and offered again */
    if (b->start_by_time)
        return log_time_line_starts_event(b->tfmt, text, text_len);
    return regex_match(&b->start, text, text_len);
}

int log_event_builder_push(struct log_event_builder *b, const struct log_line *line,
                           uint64_t now_ns)
{
    if (event_ready(b))
        return -EBUSY;
    bool continues = line->part == LOG_LINE_PART_MIDDLE || line->part == LOG_LINE_PART_LAST;
    bool ends = line->part == LOG_LINE_WHOLE || line->part == LOG_LINE_PART_LAST;

    /* Work on copies: nothing is committed until the line is taken. */
    struct utf8_state st = b->dec;
    uint64_t repaired = 0;
    if (!continues && st.npend) {
        /* A long line's end never came (the framer was reset): its cut character is
         * lost, and counted. */
        repaired += st.npend;
        memset(&st, 0, sizeof(st));
    }
    const uint8_t *text = line->len ? line->data : (const uint8_t *)"";
    size_t text_len = line->len;
    int r;
    if (st.need != 0 || ascii_prefix(text, text_len) != text_len) {
        r = convert_line(b, &st, line->data, line->len, ends, &repaired);
        if (r != 0)
            return r;
        text = b->line.data;
        text_len = b->line.len;
    } else {
        /* ASCII is its own UTF-8 in every supported encoding and no character of an
         * earlier part is pending: the line is used as it is, without the scratch copy.
         * The scratch is still sized for it, so "no allocation after the longest line"
         * holds whatever the next line holds (and a line too long fails the same way). */
        if (line->len > (LOG_EVENT_BUF_MAX - 4) / 3)
            return -ENOBUFS;
        buf_reset(&b->line);
        r = buf_reserve(&b->line, 3 * line->len + 4);
        if (r != 0)
            return r;
    }

    bool starts = line_starts_event(b, line, text, text_len);
    if (starts && b->has_event) {
        b->closed = true;
        b->cached = true;
        b->cached_data = line->data;
        b->cached_len = line->len;
        b->cached_off = line->start_off;
        b->cached_part = line->part;
        return -EBUSY;
    }
    b->cached = false;

    if (starts) {
        buf_reset(&b->cur);
        r = buf_append(&b->cur, text, text_len);
        if (r != 0)
            return r;
        b->has_event = true;
        b->closed = false;
        b->parts_out = 0;
        b->filter = FILTER_UNDECIDED;
        b->start_off = line->start_off;
        b->ts_ns = now_ns;
        if (b->tfmt) {
            uint64_t ts;
            if (log_time_find(b->tfmt, b->cur.data, b->cur.len, now_ns, &ts))
                b->ts_ns = ts;
            else
                b->counters.timestamp_misses++;
        }
    } else {
        r = buf_reserve(&b->cur, text_len + 1);
        if (r != 0)
            return r;
        if (!continues)
            buf_append(&b->cur, "\n", 1); /* cannot fail after the reserve */
        buf_append(&b->cur, text, text_len);
    }
    b->dec = st;
    b->counters.lines++;
    b->counters.repaired_bytes += repaired;
    b->end_off = line->end_off;
    b->last_line_ns = now_ns;
    if (!b->has_pattern && ends)
        b->closed = true; /* every line is an event: nothing to wait for */
    return 0;
}

void log_event_builder_flush(struct log_event_builder *b, uint64_t now_ns, bool force)
{
    if (!b->has_event || b->closed)
        return;
    if (force || (now_ns >= b->last_line_ns && now_ns - b->last_line_ns >= b->wait_ns))
        b->closed = true;
}

uint64_t log_event_builder_deadline(const struct log_event_builder *b)
{
    if (!b->has_event || b->closed)
        return 0;
    if (b->last_line_ns > UINT64_MAX - b->wait_ns)
        return UINT64_MAX;
    return b->last_line_ns + b->wait_ns;
}

const struct log_event_counters *log_event_builder_counters(const struct log_event_builder *b)
{
    return &b->counters;
}

bool log_event_builder_line_event(const struct log_event_builder *b, const struct log_line *line,
                                  uint64_t now_ns, struct built_event *ret)
{
    if (b->has_pattern || b->tfmt || b->n_filters || b->has_event || b->dec.npend || b->dec.need ||
        line->part != LOG_LINE_WHOLE || line->len > b->max_event_bytes ||
        ascii_prefix(line->data, line->len) != line->len)
        return false;
    *ret = (struct built_event){
        .msg = line->len ? line->data : (const uint8_t *)"",
        .len = line->len,
        .ts_ns = now_ns,
        .start_off = line->start_off,
        .end_off = line->end_off,
        .filtered = false,
        .last_part = true,
    };
    return true;
}

void log_event_builder_line_taken(struct log_event_builder *b)
{
    b->counters.lines++;
    b->counters.events++;
}
