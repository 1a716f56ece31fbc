/*
 * Fuzz target: the log event builder (collectors/log_event.h) behind the line framer.
 * The first input line holds the options, separated by '\t': multi_line_start_pattern,
 * timestamp_format, encoding, max_event_bytes (decimal), then any number of filters
 * ("+expr" include, "-expr" exclude). The rest is the file, framed by log_lines with a
 * small max_line (so long-line parts and characters cut between parts are common), in
 * chunks, with a clock that advances and flushes in between; options that do not compile
 * end the run. Checks: -EBUSY only when an event is ready; every event is valid UTF-8,
 * at most max_event_bytes, empty when filtered; the parts of one event share their
 * timestamp and start offset; events come in file order and, after finish + force flush,
 * the last one ends at the end of the file; the counters agree with what came out.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/log_event.h"
#include "collectors/log_lines.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 8
#define FIELD_LEN  64

/* An independent strict UTF-8 check (RFC 3629). */
static bool valid_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0;
            if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        } else {
            return false;
        }
        if (n - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            uint8_t d = s[i + k];
            if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xBF))
                return false;
        }
        i += need + 1;
    }
    return true;
}

struct state {
    size_t max_event_bytes;
    uint64_t last_start, last_end;
    bool in_split; /* a part came out and the event's last part has not */
    uint64_t part_ts, part_start;
    uint64_t events, parts_of_split, split_events, filtered;
};

static void take(struct log_event_builder *b, struct state *s)
{
    struct built_event ev;
    while (log_event_builder_peek(b, &ev)) {
        if (ev.len > s->max_event_bytes || !valid_utf8(ev.msg, ev.len) ||
            (ev.filtered && ev.len != 0) || ev.start_off > ev.end_off ||
            ev.start_off < s->last_start || ev.end_off < s->last_end)
            abort();
        if (s->in_split && (ev.ts_ns != s->part_ts || ev.start_off != s->part_start))
            abort();
        if (!s->in_split && ev.start_off < s->last_end)
            abort(); /* a new event starts where the previous one ended, or later */
        if (!ev.last_part || s->in_split)
            s->parts_of_split++;
        if (!ev.last_part && !s->in_split)
            s->split_events++;
        if (ev.filtered && !s->in_split)
            s->filtered++;
        s->in_split = !ev.last_part;
        s->part_ts = ev.ts_ns;
        s->part_start = ev.start_off;
        s->last_start = ev.start_off;
        s->last_end = ev.end_off;
        if (ev.last_part)
            s->events++;
        log_event_builder_pop(b);
    }
}

static void push_all(struct log_event_builder *b, struct log_lines *f, struct state *s,
                     uint64_t now)
{
    struct log_line line;
    while (log_lines_next(f, &line)) {
        int r;
        while ((r = log_event_builder_push(b, &line, now)) == -EBUSY) {
            struct built_event ev;
            if (!log_event_builder_peek(b, &ev))
                abort();
            take(b, s);
        }
        if (r != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl)
        return 0;
    static char fields[MAX_FIELDS][FIELD_LEN + 1];
    size_t n_fields = 0;
    const uint8_t *p = data;
    while (p <= nl && n_fields < MAX_FIELDS) {
        const uint8_t *end = p;
        while (end < nl && *end != '\t')
            end++;
        size_t len = (size_t)(end - p);
        if (len > FIELD_LEN)
            len = FIELD_LEN;
        memcpy(fields[n_fields], p, len);
        fields[n_fields][len] = '\0';
        n_fields++;
        p = end + 1;
    }
    struct log_filter_spec filters[MAX_FIELDS];
    size_t n_filters = 0;
    for (size_t i = 4; i < n_fields; i++) {
        if (fields[i][0] != '+' && fields[i][0] != '-')
            continue;
        filters[n_filters].exclude = fields[i][0] == '-';
        filters[n_filters].expression = fields[i] + 1;
        n_filters++;
    }
    size_t max_event_bytes = 0;
    if (n_fields > 3) {
        for (const char *d = fields[3]; *d >= '0' && *d <= '9' && max_event_bytes < 1000000; d++)
            max_event_bytes = max_event_bytes * 10 + (size_t)(*d - '0');
    }
    struct log_event_opts o = {
        .multi_line_start_pattern = n_fields > 0 ? fields[0] : NULL,
        .timestamp_format = n_fields > 1 ? fields[1] : NULL,
        .timezone_utc = true,
        .encoding = n_fields > 2 ? fields[2] : NULL,
        .filters = filters,
        .n_filters = n_filters,
        .max_event_bytes = max_event_bytes,
        .multi_line_wait_ns = 3,
    };
    char err[128];
    struct log_event_builder *b = NULL;
    if (log_event_builder_create(&o, err, sizeof(err), &b) != 0) {
        if (b)
            abort();
        return 0;
    }

    const uint8_t *file = nl + 1;
    size_t file_size = size - (size_t)(file - data);
    uint64_t seed = 1469598103934665603ull;
    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 1099511628211ull;
    seed |= 1;
    struct log_lines f;
    if (log_lines_init(&f, 1 + (size_t)(seed % 48)) != 0)
        abort();
    struct state s = {.max_event_bytes =
                          max_event_bytes ? max_event_bytes : LOG_EVENT_MAX_EVENT_BYTES};
    uint64_t now = 1700000000ull * 1000000000ull;
    size_t pos = 0;
    while (pos < file_size) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        size_t chunk = 1 + (size_t)(seed % 61);
        if (chunk > file_size - pos)
            chunk = file_size - pos;
        log_lines_feed(&f, file + pos, chunk, pos);
        push_all(b, &f, &s, now);
        now += seed & 3;
        if (seed & 0x10) {
            uint64_t deadline = log_event_builder_deadline(b);
            log_event_builder_flush(b, now, false);
            if (deadline && now >= deadline && log_event_builder_deadline(b) != 0)
                abort(); /* a due group must be finished by flush */
            take(b, &s);
        }
        pos += chunk;
    }
    log_lines_finish(&f);
    push_all(b, &f, &s, now);
    log_event_builder_flush(b, now, true);
    if (log_event_builder_deadline(b) != 0)
        abort();
    take(b, &s);
    if (s.in_split || (file_size > 0 && s.last_end != file_size))
        abort();
    const struct log_event_counters *k = log_event_builder_counters(b);
    if (k->events != s.events || k->split_parts != s.parts_of_split ||
        k->split_events != s.split_events || k->filtered != s.filtered)
        abort();
    log_lines_release(&f);
    log_event_builder_free(b);
    return 0;
}
