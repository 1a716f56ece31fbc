#include "agent/alarm_eval.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- names ------------------------------------------------------------------------ */

static const char *const state_names[] = {"INSUFFICIENT_DATA", "OK", "ALARM"};
static const char *const cmp_names[] = {"GreaterThanOrEqualToThreshold", "GreaterThanThreshold",
                                        "LessThanThreshold", "LessThanOrEqualToThreshold"};
static const char *const cmp_phrases[] = {"greater than or equal to", "greater than", "less than",
                                          "less than or equal to"};
static const char *const missing_names[] = {"missing", "ignore", "breaching", "notBreaching"};

const char *alarm_state_name(enum alarm_state s)
{
    return (unsigned)s < 3 ? state_names[s] : "UNKNOWN";
}

const char *alarm_cmp_name(enum alarm_cmp c)
{
    return (unsigned)c < 4 ? cmp_names[c] : "UNKNOWN";
}

const char *alarm_missing_name(enum alarm_missing m)
{
    return (unsigned)m < 4 ? missing_names[m] : "UNKNOWN";
}

static int parse_name(const char *text, const char *const *names, size_t n, int *ret)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(text, names[i]) == 0) {
            *ret = (int)i;
            return 0;
        }
    }
    return -EINVAL;
}

int alarm_cmp_parse(const char *text, enum alarm_cmp *ret)
{
    int v;
    int r = parse_name(text, cmp_names, 4, &v);
    if (r == 0)
        *ret = (enum alarm_cmp)v;
    return r;
}

int alarm_missing_parse(const char *text, enum alarm_missing *ret)
{
    int v;
    int r = parse_name(text, missing_names, 4, &v);
    if (r == 0)
        *ret = (enum alarm_missing)v;
    return r;
}

int alarm_state_parse(const char *text, enum alarm_state *ret)
{
    int v;
    int r = parse_name(text, state_names, 3, &v);
    if (r == 0)
        *ret = (enum alarm_state)v;
    return r;
}

/* ---- statistics ------------------------------------------------------------------- */

/* A percent in (0, 100] written as digits with at most two decimals, e.g. "99", "99.9". */
static int parse_percent(const char *s, size_t len, double *ret)
{
    char buf[16];
    if (len == 0 || len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    size_t digits = 0, decimals = 0;
    bool dot = false;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '.') {
            if (dot || digits == 0)
                return -EINVAL;
            dot = true;
        } else if (buf[i] >= '0' && buf[i] <= '9') {
            if (dot)
                decimals++;
            else
                digits++;
        } else {
            return -EINVAL;
        }
    }
    if (digits == 0 || digits > 3 || decimals > 2 || (dot && decimals == 0))
        return -EINVAL;
    double v = strtod(buf, NULL);
    if (!(v > 0.0 && v <= 100.0))
        return -EINVAL;
    *ret = v;
    return 0;
}

int alarm_stat_parse(const char *text, bool extended, struct alarm_stat *ret)
{
    static const char *const simple[] = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"};
    memset(ret, 0, sizeof(*ret));
    ret->extended = extended;
    if (!extended) {
        int v;
        if (parse_name(text, simple, 5, &v) != 0)
            return -EINVAL;
        ret->kind = (enum alarm_stat_kind)v;
        return 0;
    }
    size_t len = strlen(text);
    if (len >= 2 && text[0] == 'p') {
        ret->kind = ALARM_STAT_PERCENTILE;
        return parse_percent(text + 1, len - 1, &ret->hi);
    }
    if (strcmp(text, "IQM") == 0) {
        ret->kind = ALARM_STAT_TRIMMED_MEAN;
        ret->lo = 25;
        ret->hi = 75;
        return 0;
    }
    if (len >= 3 && strncmp(text, "tm", 2) == 0) {
        ret->kind = ALARM_STAT_TRIMMED_MEAN;
        ret->lo = 0;
        return parse_percent(text + 2, len - 2, &ret->hi);
    }
    if (len >= 5 && strncmp(text, "TM(", 3) == 0 && text[len - 1] == ')') {
        /* TM(a%:b%), either bound may be empty; bounds in percent only. */
        const char *in = text + 3, *end = text + len - 1,
                   *colon = memchr(in, ':', (size_t)(end - in));
        if (!colon)
            return -EINVAL;
        ret->kind = ALARM_STAT_TRIMMED_MEAN;
        ret->lo = 0;
        ret->hi = 100;
        if (colon > in) {
            if (colon[-1] != '%')
                return -ENOTSUP; /* absolute-value bounds */
            if (parse_percent(in, (size_t)(colon - 1 - in), &ret->lo) != 0)
                return -EINVAL;
        }
        if (end > colon + 1) {
            if (end[-1] != '%')
                return -ENOTSUP;
            if (parse_percent(colon + 1, (size_t)(end - 1 - colon - 1), &ret->hi) != 0)
                return -EINVAL;
        }
        return ret->lo < ret->hi ? 0 : -EINVAL;
    }
    /* tc, ts, wm, PR, TC, TS, WM: recognised families this build does not compute. */
    static const char *const families[] = {"tc", "ts", "wm", "PR(", "TC(", "TS(", "WM("};
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
        if (strncmp(text, families[i], strlen(families[i])) == 0)
            return -ENOTSUP;
    return -EINVAL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bool alarm_stat_value(const struct alarm_stat *s, struct alarm_period *p, double *ret)
{
    if (s->kind == ALARM_STAT_SAMPLE_COUNT) {
        *ret = p->count;
        return p->count > 0;
    }
    if (!(p->count > 0))
        return false;
    switch (s->kind) {
    case ALARM_STAT_AVERAGE:
        *ret = p->sum / p->count;
        return true;
    case ALARM_STAT_SUM:
        *ret = p->sum;
        return true;
    case ALARM_STAT_MINIMUM:
        *ret = p->min;
        return true;
    case ALARM_STAT_MAXIMUM:
        *ret = p->max;
        return true;
    default:
        break;
    }
    if (p->n_values == 0 || p->min < 0)
        return false; /* CloudWatch: percentiles need raw, non-negative values */
    qsort(p->values, p->n_values, sizeof(double), cmp_double);
    double n = (double)p->n_values;
    if (s->kind == ALARM_STAT_PERCENTILE) {
        /* Nearest rank: the smallest value with at least p% of the values at or below it. */
        size_t rank = (size_t)ceil(s->hi / 100.0 * n);
        *ret = p->values[rank ? rank - 1 : 0];
        return true;
    }
    /* Trimmed mean over the values whose rank falls in (lo%, hi%]. */
    size_t first = (size_t)floor(s->lo / 100.0 * n), last = (size_t)ceil(s->hi / 100.0 * n);
    if (last > p->n_values)
        last = p->n_values;
    if (last <= first)
        return false;
    double sum = 0;
    for (size_t i = first; i < last; i++)
        sum += p->values[i];
    *ret = sum / (double)(last - first);
    return true;
}

bool alarm_stat_low_samples(const struct alarm_stat *s, double sample_count)
{
    if (s->kind != ALARM_STAT_PERCENTILE)
        return false;
    double p = s->hi / 100.0;
    double need = p >= 0.5 ? (p < 1.0 ? 10.0 / (1.0 - p) : 0.0) : 10.0 / p;
    return sample_count < need;
}

/* ---- evaluation ------------------------------------------------------------------- */

bool alarm_breaches(const struct alarm_rule *r, double value)
{
    switch (r->cmp) {
    case ALARM_CMP_GE:
        return value >= r->threshold;
    case ALARM_CMP_GT:
        return value > r->threshold;
    case ALARM_CMP_LT:
        return value < r->threshold;
    case ALARM_CMP_LE:
        return value <= r->threshold;
    }
    return false;
}

/* The documented exception to the premature-ALARM guard, for `missing` with fewer than N
 * real points: the oldest breaching point within the last N periods is at least M periods
 * old, every newer point breaches or is missing, and nothing real in the range is OK. */
static bool missing_alarm_exception(const struct alarm_rule *r, const struct alarm_point *range,
                                    size_t len)
{
    size_t n = r->evaluation_periods < len ? r->evaluation_periods : len;
    size_t oldest = len;
    for (size_t i = 0; i < len; i++) {
        if (!range[i].present)
            continue;
        if (!alarm_breaches(r, range[i].value))
            return false;
        if (i >= len - n && oldest == len)
            oldest = i;
    }
    return oldest < len && len - oldest >= r->datapoints_to_alarm;
}

void alarm_evaluate(const struct alarm_rule *r, const struct alarm_point *range, size_t range_len,
                    enum alarm_state current, struct alarm_result *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (range_len > ALARM_EVAL_MAX_RANGE) {
        range += range_len - ALARM_EVAL_MAX_RANGE;
        range_len = ALARM_EVAL_MAX_RANGE;
    }
    unsigned n = r->evaluation_periods ? r->evaluation_periods : 1;
    unsigned m = r->datapoints_to_alarm ? r->datapoints_to_alarm : n;
    ret->n_periods = n;

    /* Real points newest first; at most N of them are evaluated. */
    size_t n_real = 0;
    for (size_t i = range_len; i-- > 0;)
        if (range[i].present)
            n_real++;
    for (size_t i = range_len; i-- > 0 && ret->n_evaluated < n;) {
        if (!range[i].present)
            continue;
        ret->evaluated[ret->n_evaluated++] = i;
        if (alarm_breaches(r, range[i].value))
            ret->breaching++;
        if (r->low_sample_ignore && alarm_stat_low_samples(&r->stat, range[i].sample_count))
            ret->low_samples = true;
    }
    if (ret->low_samples) {
        ret->state = current;
        ret->kept = true;
        return;
    }
    if (n_real >= n) {
        ret->state = ret->breaching >= m ? ALARM_STATE_ALARM : ALARM_STATE_OK;
        return;
    }

    unsigned shortfall = n - (unsigned)n_real;
    bool all_breaching = ret->breaching == n_real;
    switch (r->missing) {
    case ALARM_MISSING_BREACHING:
        ret->filled = shortfall;
        ret->state = ret->breaching + shortfall >= m ? ALARM_STATE_ALARM : ALARM_STATE_OK;
        return;
    case ALARM_MISSING_NOT_BREACHING:
        ret->filled = shortfall;
        ret->state = ret->breaching >= m ? ALARM_STATE_ALARM : ALARM_STATE_OK;
        return;
    case ALARM_MISSING_IGNORE:
        if (ret->breaching >= m)
            ret->state = ALARM_STATE_ALARM;
        else if (n_real == 0 || all_breaching)
            ret->kept = true;
        else
            ret->state = ALARM_STATE_OK;
        break;
    case ALARM_MISSING_MISSING:
        if (n_real == 0)
            ret->state = ALARM_STATE_INSUFFICIENT_DATA;
        else if (ret->breaching >= m || missing_alarm_exception(r, range, range_len))
            ret->state = ALARM_STATE_ALARM;
        else if (all_breaching)
            ret->kept = true; /* breaching points too recent: stay out of ALARM */
        else
            ret->state = ALARM_STATE_OK;
        break;
    }
    if (ret->kept)
        ret->state = current;
}

/* ---- reasons ---------------------------------------------------------------------- */

struct out {
    char *buf;
    size_t cap, len;
};

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
    if (o->len + 1 >= o->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len = o->len + (size_t)n < o->cap ? o->len + (size_t)n : o->cap - 1;
}

/* CloudWatch writes whole numbers with one decimal ("1.0") and others in full. */
static void out_value(struct out *o, double v)
{
    if (v == floor(v) && fabs(v) < 1e15)
        out_printf(o, "%.1f", v);
    else
        out_printf(o, "%.15g", v);
}

static void out_datapoint(struct out *o, const struct alarm_point *p)
{
    time_t t = (time_t)p->ts_s;
    struct tm tm;
    char date[32] = "";
    if (gmtime_r(&t, &tm))
        strftime(date, sizeof(date), "%d/%m/%y %H:%M:%S", &tm);
    out_value(o, p->value);
    out_printf(o, " (%s)", date);
}

static void out_list(struct out *o, const struct alarm_rule *r, const struct alarm_point *range,
                     const struct alarm_result *res, bool breaching)
{
    bool first = true;
    out_printf(o, "[");
    for (size_t i = 0; i < res->n_evaluated; i++) {
        const struct alarm_point *p = &range[res->evaluated[i]];
        if (alarm_breaches(r, p->value) != breaching)
            continue;
        out_printf(o, "%s", first ? "" : ", ");
        out_datapoint(o, p);
        first = false;
    }
    out_printf(o, "]");
}

size_t alarm_reason_format(const struct alarm_rule *r, const struct alarm_point *range,
                           const struct alarm_result *res, char *buf, size_t cap)
{
    struct out o = {buf, cap, 0};
    if (cap)
        buf[0] = '\0';
    if (res->kept)
        return 0;
    unsigned m = r->datapoints_to_alarm ? r->datapoints_to_alarm : res->n_periods;
    const char *phrase = cmp_phrases[r->cmp];
    if (res->state == ALARM_STATE_INSUFFICIENT_DATA) {
        out_printf(&o, "Insufficient Data: %u datapoint%s %s unknown.", res->n_periods,
                   res->n_periods == 1 ? "" : "s", res->n_periods == 1 ? "was" : "were");
        return o.len;
    }
    if (res->filled) {
        if (res->n_evaluated == 0)
            out_printf(&o, "Threshold Crossed: no datapoints were received for %u period%s",
                       res->n_periods, res->n_periods == 1 ? "" : "s");
        else
            out_printf(&o, "Threshold Crossed: %zu datapoint%s %s received for %u period%s",
                       res->n_evaluated, res->n_evaluated == 1 ? "" : "s",
                       res->n_evaluated == 1 ? "was" : "were", res->n_periods,
                       res->n_periods == 1 ? "" : "s");
        out_printf(&o, " and %u missing datapoint%s %s treated as [%s].", res->filled,
                   res->filled == 1 ? "" : "s", res->filled == 1 ? "was" : "were",
                   r->missing == ALARM_MISSING_BREACHING ? "Breaching" : "NonBreaching");
        return o.len;
    }
    bool alarm = res->state == ALARM_STATE_ALARM;
    unsigned shown = alarm ? res->breaching : (unsigned)res->n_evaluated - res->breaching;
    if (res->n_periods == 1 || res->n_evaluated == 1) {
        out_printf(&o, "Threshold Crossed: 1 datapoint ");
        out_list(&o, r, range, res, alarm);
        out_printf(&o, " was %s%s the threshold (", alarm ? "" : "not ", phrase);
    } else if (alarm) {
        out_printf(&o, "Threshold Crossed: %u out of the last %zu datapoints ", shown,
                   res->n_evaluated);
        out_list(&o, r, range, res, true);
        out_printf(&o, " were %s the threshold (", phrase);
    } else {
        out_printf(&o, "Threshold Crossed: %u datapoint%s ", shown, shown == 1 ? "" : "s");
        out_list(&o, r, range, res, false);
        out_printf(&o, " %s not %s the threshold (", shown == 1 ? "was" : "were", phrase);
    }
    out_value(&o, r->threshold);
    out_printf(&o, ")");
    if (alarm && res->n_periods > 1)
        out_printf(&o, " (minimum %u datapoint%s for OK -> ALARM transition)", m,
                   m == 1 ? "" : "s");
    else if (!alarm && res->n_periods > 1)
        out_printf(&o, " (minimum 1 datapoint for ALARM -> OK transition)");
    out_printf(&o, ".");
    return o.len;
}
