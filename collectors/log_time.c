/*
 * log_time: CloudWatch agent timestamp_format, compiled to a token program and matched
 * directly against the line (no regex engine, no allocation per call).
 *
 * DESIGN
 * The agent turns timestamp_format into a regex (to find the stamp) plus a Go layout (to
 * read it). We do both in one pass: each directive becomes a token that knows which bytes
 * it accepts and which field it fills. A few tokens accept more than one width ("%-d" is
 * "4", "04" or " 4"), so the matcher is a small backtracking recursion over the tokens,
 * trying the widest reading first. Ranges are checked inside the token (a month of 13 is
 * not a month), and the cross-field checks (day within its month, AM/PM) run when the
 * last token matched, so a failure there still lets the shorter readings be tried. Every
 * start position gets a fixed step budget, which keeps a hostile line linear in its length.
 *
 * Civil date <-> day number uses the proleptic Gregorian "days from 1970-01-01" formula
 * (era of 400 years), so UTC needs neither timegm nor mktime. Local time asks
 * localtime_r for the offset in force at an instant and solves local -> UTC with the
 * offsets a day before and a day after (one DST change at most in between).
 */
#include "collectors/log_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TOKENS LOG_TIME_MAX_FORMAT
/* Backtracking budget at one start position: a straight match costs one step per token,
 * the slack pays for the shorter readings of variable-width fields. */
#define STEPS_SLACK 64
#define NS_PER_S    1000000000ull
#define MAX_EPOCH_S ((int64_t)(UINT64_MAX / NS_PER_S) - 1)

enum tok_kind {
    TOK_LITERAL = 0,
    TOK_NUMBER,       /* a bounded decimal field */
    TOK_MONTH_ABBR,   /* %b */
    TOK_MONTH_FULL,   /* %B */
    TOK_WEEKDAY_ABBR, /* %a */
    TOK_WEEKDAY_FULL, /* %A */
    TOK_AMPM,         /* %p */
    TOK_FRACTION,     /* %f */
    TOK_OFFSET,       /* %z */
    TOK_ZONE_NAME,    /* %Z */
};

enum field {
    FIELD_YEAR4 = 0,
    FIELD_YEAR2,
    FIELD_MONTH,
    FIELD_DAY,
    FIELD_HOUR24,
    FIELD_HOUR12,
    FIELD_MINUTE,
    FIELD_SECOND,
    FIELD_YEAR_DAY,
    FIELD_MAX
};

struct token {
    uint8_t kind;
    uint8_t literal;
    uint8_t field;
    uint8_t min_digits, max_digits;
    bool space_pad; /* " 4" is accepted for a day or month, as Go's "_2" does */
    uint16_t lo, hi;
};

struct log_time_format {
    struct token toks[MAX_TOKENS];
    size_t n_toks;
    size_t min_len;                    /* shortest text the whole format can match */
    uint16_t min_tail[MAX_TOKENS + 1]; /* shortest text tokens [i, n) can match */
    unsigned steps_per_start;
    bool utc;
};

/* What one match read. Each token overwrites its own slots, so after a successful match
 * every slot reflects the path that succeeded. */
struct stamp {
    int year, month, day, year_day;
    int hour, minute, second;
    uint32_t nsec;
    int ampm; /* 0 none, 1 AM, 2 PM */
    bool offset_set;
    int32_t offset_s;
    bool zone_is_utc;
};

static const char *const month_names[12] = {"january",   "february", "march",    "april",
                                            "may",       "june",     "july",     "august",
                                            "september", "october",  "november", "december"};
static const char *const weekday_names[7] = {"monday", "tuesday",  "wednesday", "thursday",
                                             "friday", "saturday", "sunday"};

/* ---- calendar arithmetic ---------------------------------------------------------- */

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const uint8_t dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1-12, d 1-31). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *ret_y, int *ret_m, int *ret_d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *ret_y = yoe + era * 400 + (m <= 2);
    *ret_m = m;
    *ret_d = d;
}

/* Offset east of UTC in force at instant t in the process zone, from localtime_r's civil
 * fields (no reliance on tm_gmtoff). false when the libc cannot convert t. */
static bool local_offset(int64_t t, int32_t *ret_off)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if ((int64_t)tt != t || !localtime_r(&tt, &tm))
        return false;
    int64_t local = days_from_civil((int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) * 86400 +
                    tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    *ret_off = (int32_t)(local - t);
    return true;
}

/* Local seconds (civil fields counted as if UTC) -> UTC seconds in the process zone. */
static bool local_to_utc(int64_t local, int64_t *ret_t)
{
    int32_t before, after, check;
    if (!local_offset(local - 86400, &before) || !local_offset(local + 86400, &after))
        return false;
    int64_t t_before = local - before, t_after = local - after;
    bool ok_before = local_offset(t_before, &check) && check == before;
    bool ok_after = local_offset(t_after, &check) && check == after;
    if (ok_before && ok_after)
        *ret_t = t_before < t_after ? t_before : t_after; /* ambiguous: the earlier one */
    else if (ok_after)
        *ret_t = t_after;
    else
        *ret_t = t_before; /* in a gap (or both odd): read it with the offset before */
    return true;
}

/* ---- compile ---------------------------------------------------------------------- */

static int add_token(struct log_time_format *f, struct token t, size_t min_len, char *err,
                     size_t err_len)
{
    if (f->n_toks == MAX_TOKENS) {
        snprintf(err, err_len, "timestamp_format has too many parts");
        return -EINVAL;
    }
    f->min_tail[f->n_toks] = (uint16_t)min_len; /* per-token for now; summed at the end */
    f->toks[f->n_toks++] = t;
    f->min_len += min_len;
    return 0;
}

static struct token number(enum field field, int min_digits, int max_digits, int lo, int hi,
                           bool space_pad)
{
    return (struct token){.kind = TOK_NUMBER,
                          .field = (uint8_t)field,
                          .min_digits = (uint8_t)min_digits,
                          .max_digits = (uint8_t)max_digits,
                          .space_pad = space_pad,
                          .lo = (uint16_t)lo,
                          .hi = (uint16_t)hi};
}

/* One directive (the byte after '%', or after "%-" when dash). */
static int compile_directive(struct log_time_format *f, char c, bool dash, size_t at, char *err,
                             size_t err_len)
{
    struct token t = {0};
    size_t min_len;
    if (dash) {
        switch (c) {
        case 'm':
            t = number(FIELD_MONTH, 1, 2, 1, 12, true);
            break;
        case 'd':
            t = number(FIELD_DAY, 1, 2, 1, 31, true);
            break;
        case 'H':
            t = number(FIELD_HOUR24, 1, 2, 0, 23, false);
            break;
        case 'I':
            t = number(FIELD_HOUR12, 1, 2, 1, 12, false);
            break;
        case 'M':
            t = number(FIELD_MINUTE, 1, 2, 0, 59, false);
            break;
        case 'S':
            t = number(FIELD_SECOND, 1, 2, 0, 60, false);
            break;
        default:
            goto unknown;
        }
    } else {
        switch (c) {
        case 'Y':
            t = number(FIELD_YEAR4, 4, 4, 0, 9999, false);
            break;
        case 'y':
            t = number(FIELD_YEAR2, 2, 2, 0, 99, false);
            break;
        case 'm': /* the agent reads %m and %-m alike (two Go layouts) */
            t = number(FIELD_MONTH, 1, 2, 1, 12, true);
            break;
        case 'd': /* Go "_2" for both %d and %-d */
            t = number(FIELD_DAY, 1, 2, 1, 31, true);
            break;
        case 'H':
            t = number(FIELD_HOUR24, 2, 2, 0, 23, false);
            break;
        case 'I':
            t = number(FIELD_HOUR12, 2, 2, 1, 12, false);
            break;
        case 'M':
            t = number(FIELD_MINUTE, 2, 2, 0, 59, false);
            break;
        case 'S':
            t = number(FIELD_SECOND, 2, 2, 0, 60, false);
            break;
        case 'j':
            t = number(FIELD_YEAR_DAY, 3, 3, 1, 366, false);
            break;
        case 'b':
            t.kind = TOK_MONTH_ABBR;
            break;
        case 'B':
            t.kind = TOK_MONTH_FULL;
            break;
        case 'a':
            t.kind = TOK_WEEKDAY_ABBR;
            break;
        case 'A':
            t.kind = TOK_WEEKDAY_FULL;
            break;
        case 'p':
            t.kind = TOK_AMPM;
            break;
        case 'f':
            t.kind = TOK_FRACTION;
            break;
        case 'z':
            t.kind = TOK_OFFSET;
            break;
        case 'Z':
            t.kind = TOK_ZONE_NAME;
            break;
        case '%':
            t.kind = TOK_LITERAL;
            t.literal = '%';
            break;
        default:
            goto unknown;
        }
    }
    switch (t.kind) {
    case TOK_NUMBER:
        min_len = t.min_digits;
        break;
    case TOK_MONTH_ABBR:
    case TOK_WEEKDAY_ABBR:
    case TOK_MONTH_FULL: /* "May" */
        min_len = 3;
        break;
    case TOK_WEEKDAY_FULL:
        min_len = 6; /* "Monday" */
        break;
    case TOK_AMPM:
        min_len = 2;
        break;
    default: /* literal '%', fraction, offset "Z", zone "Z" */
        min_len = 1;
        break;
    }
    return add_token(f, t, min_len, err, err_len);

unknown:
    snprintf(err, err_len, "timestamp_format: unknown directive '%%%s%c' at offset %zu",
             dash ? "-" : "", c, at);
    return -EINVAL;
}

int log_time_format_compile(const char *fmt, bool utc, char *err, size_t err_len,
                            struct log_time_format **ret)
{
    if (err_len)
        err[0] = '\0';
    size_t len = fmt ? strlen(fmt) : 0;
    if (len == 0) {
        snprintf(err, err_len, "timestamp_format is empty");
        return -EINVAL;
    }
    if (len > LOG_TIME_MAX_FORMAT) {
        snprintf(err, err_len, "timestamp_format is longer than %d bytes", LOG_TIME_MAX_FORMAT);
        return -EINVAL;
    }
    struct log_time_format *f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    f->utc = utc;
    int r = 0;
    bool any_directive = false;
    for (size_t i = 0; i < len; i++) {
        if (fmt[i] != '%') {
            r = add_token(f, (struct token){.kind = TOK_LITERAL, .literal = (uint8_t)fmt[i]}, 1,
                          err, err_len);
        } else if (i + 1 >= len || (fmt[i + 1] == '-' && i + 2 >= len)) {
            snprintf(err, err_len, "timestamp_format ends with an incomplete directive");
            r = -EINVAL;
        } else if (fmt[i + 1] == '-') {
            r = compile_directive(f, fmt[i + 2], true, i, err, err_len);
            i += 2;
            any_directive = true;
        } else {
            r = compile_directive(f, fmt[i + 1], false, i, err, err_len);
            any_directive |= fmt[i + 1] != '%';
            i += 1;
        }
        if (r < 0)
            goto fail;
    }
    if (!any_directive) {
        snprintf(err, err_len, "timestamp_format has no directive");
        r = -EINVAL;
        goto fail;
    }
    f->min_tail[f->n_toks] = 0;
    for (size_t i = f->n_toks; i-- > 0;)
        f->min_tail[i] = (uint16_t)(f->min_tail[i] + f->min_tail[i + 1]);
    f->steps_per_start = 2 * (unsigned)f->n_toks + STEPS_SLACK;
    *ret = f;
    return 0;

fail:
    free(f);
    return r;
}

void log_time_format_free(struct log_time_format *f)
{
    free(f);
}

/* ---- matching --------------------------------------------------------------------- */

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static uint8_t lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Does p[0..n) equal the lowercase name's first n bytes, ignoring case? */
static bool name_eq(const uint8_t *p, const char *name, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(p[i]) != (uint8_t)name[i])
            return false;
    return true;
}

static void set_number(struct stamp *s, enum field field, int v)
{
    switch (field) {
    case FIELD_YEAR4:
        s->year = v;
        break;
    case FIELD_YEAR2:
        s->year = v >= 69 ? 1900 + v : 2000 + v;
        break;
    case FIELD_MONTH:
        s->month = v;
        break;
    case FIELD_DAY:
        s->day = v;
        break;
    case FIELD_HOUR24:
    case FIELD_HOUR12:
        s->hour = v;
        break;
    case FIELD_MINUTE:
        s->minute = v;
        break;
    case FIELD_SECOND:
        s->second = v;
        break;
    case FIELD_YEAR_DAY:
        s->year_day = v;
        break;
    default:
        break;
    }
}

/* Checks that need several fields; no clock. A missing year allows Feb 29. */
static bool fields_valid(const struct stamp *s)
{
    if (s->month && s->day) {
        int64_t y = s->year >= 0 ? s->year : 2000; /* 2000 is a leap year */
        if (s->day > days_in_month(y, s->month))
            return false;
    }
    if (s->year_day == 366 && s->year >= 0 && !is_leap(s->year))
        return false;
    return true;
}

struct matcher {
    const struct log_time_format *f;
    const uint8_t *p;
    size_t len;
    struct stamp *s;
    unsigned budget;
};

static bool match_from(struct matcher *m, size_t ti, size_t pos);

static bool match_number(struct matcher *m, const struct token *t, size_t ti, size_t pos)
{
    const uint8_t *p = m->p;
    for (int w = t->max_digits; w >= t->min_digits; w--) {
        if (pos + (size_t)w > m->len)
            continue;
        int v = 0;
        bool digits = true;
        for (int i = 0; i < w; i++) {
            if (!is_digit(p[pos + i])) {
                digits = false;
                break;
            }
            v = v * 10 + (p[pos + i] - '0');
        }
        if (!digits || v < t->lo || v > t->hi)
            continue;
        set_number(m->s, (enum field)t->field, v);
        if (match_from(m, ti + 1, pos + (size_t)w))
            return true;
    }
    if (t->space_pad && pos + 2 <= m->len && p[pos] == ' ' && is_digit(p[pos + 1])) {
        int v = p[pos + 1] - '0';
        if (v >= t->lo && v <= t->hi) {
            set_number(m->s, (enum field)t->field, v);
            if (match_from(m, ti + 1, pos + 2))
                return true;
        }
    }
    return false;
}

/* Names: the 3-letter abbreviation (abbr) or the full name. */
static bool match_name(struct matcher *m, const char *const *names, int n_names, bool abbr,
                       int *ret_index, size_t ti, size_t pos)
{
    for (int i = 0; i < n_names; i++) {
        size_t n = abbr ? 3 : strlen(names[i]);
        if (pos + n > m->len || !name_eq(m->p + pos, names[i], n))
            continue;
        if (ret_index)
            *ret_index = i + 1;
        if (match_from(m, ti + 1, pos + n))
            return true;
    }
    return false;
}

static bool match_offset(struct matcher *m, size_t ti, size_t pos)
{
    const uint8_t *p = m->p;
    if (pos < m->len && p[pos] == 'Z') {
        m->s->offset_set = true;
        m->s->offset_s = 0;
        return match_from(m, ti + 1, pos + 1);
    }
    if (pos + 5 > m->len || (p[pos] != '+' && p[pos] != '-'))
        return false;
    size_t q = pos + 1;
    if (!is_digit(p[q]) || !is_digit(p[q + 1]))
        return false;
    int hh = (p[q] - '0') * 10 + (p[q + 1] - '0');
    q += 2;
    if (p[q] == ':')
        q++;
    if (q + 2 > m->len || !is_digit(p[q]) || !is_digit(p[q + 1]))
        return false;
    int mm = (p[q] - '0') * 10 + (p[q + 1] - '0');
    if (hh > 23 || mm > 59)
        return false;
    int32_t off = hh * 3600 + mm * 60;
    m->s->offset_set = true;
    m->s->offset_s = p[pos] == '-' ? -off : off;
    return match_from(m, ti + 1, q + 2);
}

static bool match_zone_name(struct matcher *m, size_t ti, size_t pos)
{
    size_t n = 0;
    while (pos + n < m->len && n <= 5 && is_alpha(m->p[pos + n]))
        n++;
    if (n == 0 || n > 5)
        return false;
    const uint8_t *z = m->p + pos;
    m->s->zone_is_utc = (n == 3 && (name_eq(z, "utc", 3) || name_eq(z, "gmt", 3))) ||
                        (n == 2 && name_eq(z, "ut", 2)) || (n == 1 && lower(z[0]) == 'z');
    return match_from(m, ti + 1, pos + n);
}

static bool match_from(struct matcher *m, size_t ti, size_t pos)
{
    if (m->budget == 0 || m->len - pos < m->f->min_tail[ti])
        return false;
    m->budget--;
    if (ti == m->f->n_toks)
        return fields_valid(m->s);
    const struct token *t = &m->f->toks[ti];
    const uint8_t *p = m->p;
    switch (t->kind) {
    case TOK_LITERAL:
        return pos < m->len && p[pos] == t->literal && match_from(m, ti + 1, pos + 1);
    case TOK_NUMBER:
        return match_number(m, t, ti, pos);
    case TOK_MONTH_ABBR:
        return match_name(m, month_names, 12, true, &m->s->month, ti, pos);
    case TOK_MONTH_FULL:
        return match_name(m, month_names, 12, false, &m->s->month, ti, pos);
    case TOK_WEEKDAY_ABBR:
        return match_name(m, weekday_names, 7, true, NULL, ti, pos);
    case TOK_WEEKDAY_FULL:
        return match_name(m, weekday_names, 7, false, NULL, ti, pos);
    case TOK_AMPM:
        if (pos + 2 > m->len || lower(p[pos + 1]) != 'm')
            return false;
        if (lower(p[pos]) == 'a')
            m->s->ampm = 1;
        else if (lower(p[pos]) == 'p')
            m->s->ampm = 2;
        else
            return false;
        return match_from(m, ti + 1, pos + 2);
    case TOK_FRACTION: {
        size_t n = 0;
        while (pos + n < m->len && n < 9 && is_digit(p[pos + n]))
            n++;
        for (; n >= 1; n--) {
            uint32_t v = 0;
            for (size_t i = 0; i < n; i++)
                v = v * 10 + (uint32_t)(p[pos + i] - '0');
            for (size_t i = n; i < 9; i++)
                v *= 10;
            m->s->nsec = v;
            if (match_from(m, ti + 1, pos + n))
                return true;
        }
        return false;
    }
    case TOK_OFFSET:
        return match_offset(m, ti, pos);
    case TOK_ZONE_NAME:
        return match_zone_name(m, ti, pos);
    default:
        return false;
    }
}

/* Cheap test whether the first token could start at byte c. */
static bool can_start(const struct token *t, uint8_t c)
{
    switch (t->kind) {
    case TOK_LITERAL:
        return c == t->literal;
    case TOK_NUMBER:
        return is_digit(c) || (t->space_pad && c == ' ');
    case TOK_FRACTION:
        return is_digit(c);
    case TOK_OFFSET:
        return c == '+' || c == '-' || c == 'Z';
    default:
        return is_alpha(c);
    }
}

/* Next position >= *pos where the format matches; fills *s. Advances *pos past it. */
static bool find_next(const struct log_time_format *f, const uint8_t *line, size_t len, size_t *pos,
                      struct stamp *s)
{
    if (!f || !line || len < f->min_len)
        return false;
    const struct token *first = &f->toks[0];
    size_t last_start = len - f->min_len;
    for (size_t i = *pos; i <= last_start; i++) {
        if (first->kind == TOK_LITERAL) {
            const uint8_t *hit = memchr(line + i, first->literal, last_start - i + 1);
            if (!hit)
                break;
            i = (size_t)(hit - line);
        } else if (!can_start(first, line[i])) {
            continue;
        }
        *s = (struct stamp){.year = -1};
        struct matcher m = {.f = f, .p = line, .len = len, .s = s, .budget = f->steps_per_start};
        if (match_from(&m, 0, i)) {
            *pos = i + 1;
            return true;
        }
    }
    *pos = len + 1;
    return false;
}

bool log_time_line_starts_event(const struct log_time_format *f, const uint8_t *line, size_t len)
{
    struct stamp s;
    size_t pos = 0;
    return find_next(f, line, len, &pos, &s);
}

/* ---- resolution against the clock and the zone ------------------------------------ */

enum missing { MISSING_NONE = 0, MISSING_DAY, MISSING_MONTH, MISSING_YEAR };

static bool resolve(const struct log_time_format *f, struct stamp *s, int64_t now_s,
                    uint64_t *ret_ns)
{
    bool fixed = true;
    int32_t off = 0;
    if (s->offset_set)
        off = s->offset_s;
    else if (s->zone_is_utc || f->utc)
        off = 0;
    else
        fixed = false;

    /* Today's civil date in the stamp's zone. */
    int64_t now_y;
    int now_m, now_d;
    if (fixed) {
        int64_t local = now_s + off;
        int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
        civil_from_days(days, &now_y, &now_m, &now_d);
    } else {
        int32_t now_off;
        if (!local_offset(now_s, &now_off))
            return false;
        int64_t local = now_s + now_off;
        int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
        civil_from_days(days, &now_y, &now_m, &now_d);
    }

    /* The leading missing fields come from today; the least significant of them is the
     * one that steps back when the stamp lands in the future. A field missing below a
     * present one takes its lowest value, as Go's parser does. */
    int64_t y = s->year;
    int mo = s->month, d = s->day;
    enum missing missing = MISSING_NONE;
    bool by_year_day = s->year_day && !mo && !d;
    if (y < 0) {
        y = now_y;
        missing = MISSING_YEAR;
        if (!by_year_day && !mo) {
            mo = now_m;
            missing = MISSING_MONTH;
            if (!d) {
                d = now_d;
                missing = MISSING_DAY;
            }
        }
    }
    if (!by_year_day) {
        mo = mo ? mo : 1;
        d = d ? d : 1;
    }

    int hour = s->hour;
    if (s->ampm == 2 && hour < 12)
        hour += 12;
    else if (s->ampm == 1 && hour == 12)
        hour = 0;
    int64_t tod = (int64_t)hour * 3600 + s->minute * 60 + s->second;

    for (int attempt = 0; attempt < 2; attempt++) {
        int64_t days;
        if (by_year_day) {
            if (s->year_day > (is_leap(y) ? 366 : 365))
                return false;
            days = days_from_civil(y, 1, 1) + s->year_day - 1;
        } else {
            if (d > days_in_month(y, mo))
                return false;
            days = days_from_civil(y, mo, d);
        }
        int64_t local = days * 86400 + tod, t;
        if (fixed)
            t = local - off;
        else if (!local_to_utc(local, &t))
            return false;

        /* A stamp with its most significant fields missing that lands in the future was
         * written before the last wrap of the missing field (syslog across New Year). */
        int64_t slack = missing == MISSING_DAY ? 3600 : 86400;
        if (attempt == 0 && missing != MISSING_NONE && t > now_s + slack) {
            if (missing == MISSING_YEAR) {
                y--;
            } else if (missing == MISSING_MONTH) {
                if (--mo == 0) {
                    mo = 12;
                    y--;
                }
            } else {
                civil_from_days(days_from_civil(y, mo, d) - 1, &y, &mo, &d);
            }
            continue;
        }
        if (t < 0 || t > MAX_EPOCH_S)
            return false;
        *ret_ns = (uint64_t)t * NS_PER_S + s->nsec;
        return true;
    }
    return false;
}

bool log_time_find(const struct log_time_format *f, const uint8_t *line, size_t len,
                   uint64_t now_ns, uint64_t *ret_ns)
{
    struct stamp s;
    size_t pos = 0;
    int64_t now_s = (int64_t)(now_ns / NS_PER_S);
    while (find_next(f, line, len, &pos, &s)) {
        if (resolve(f, &s, now_s, ret_ns))
            return true;
    }
    return false;
}
