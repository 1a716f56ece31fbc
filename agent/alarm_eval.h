/*
 * alarm_eval: CloudWatch metric-alarm evaluation as a pure state machine — statistics of
 * one period's samples, the missing-data rules over an evaluation range, and the state
 * reason texts CloudWatch writes.
 *
 * Contract
 * - Pure: no I/O, no clock, no logging; safe on any thread. Callers own every buffer.
 * - A period's samples are summarised in struct alarm_period (count/sum/min/max, plus the
 *   raw values when a percentile-family statistic needs them; the caller owns `values`).
 * - alarm_evaluate() takes the evaluation range oldest first (range_len >= n periods; the
 *   engine uses n + 2, the range of the CloudWatch documentation's examples) and the
 *   current state, and returns the new state with what it evaluated. It never fails.
 * - Semantics (CloudWatch User Guide, "Configuring how CloudWatch alarms treat missing
 *   data"): with at least N real datapoints in the range the newest N real ones decide
 *   (M of N breaching -> ALARM, else OK) and TreatMissingData is unused; with fewer, the
 *   shortfall is filled per TreatMissingData; `missing` never claims ALARM from breaching
 *   points that are too recent (the premature-ALARM guard), but does go to ALARM when the
 *   oldest breaching point within the last N periods is at least M periods old, every newer
 *   point is breaching or missing and no real point in the range is non-breaching.
 *   Where the documentation says an alarm "stays out of ALARM" without naming the state,
 *   the current state is kept.
 * - alarm_stat_parse() accepts SampleCount, Average, Sum, Minimum, Maximum and the extended
 *   statistics pNN[.NN], tmNN[.NN], TM(a%:b%) and IQM; others return -ENOTSUP (a clear
 *   configuration error upstream), malformed ones -EINVAL.
 */
#ifndef OSPREY_ALARM_EVAL_H
#define OSPREY_ALARM_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum alarm_state {
    ALARM_STATE_INSUFFICIENT_DATA = 0,
    ALARM_STATE_OK,
    ALARM_STATE_ALARM,
};

enum alarm_cmp {
    ALARM_CMP_GE = 0, /* GreaterThanOrEqualToThreshold */
    ALARM_CMP_GT,     /* GreaterThanThreshold */
    ALARM_CMP_LT,     /* LessThanThreshold */
    ALARM_CMP_LE,     /* LessThanOrEqualToThreshold */
};

enum alarm_missing {
    ALARM_MISSING_MISSING = 0,
    ALARM_MISSING_IGNORE,
    ALARM_MISSING_BREACHING,
    ALARM_MISSING_NOT_BREACHING,
};

enum alarm_stat_kind {
    ALARM_STAT_SAMPLE_COUNT = 0,
    ALARM_STAT_AVERAGE,
    ALARM_STAT_SUM,
    ALARM_STAT_MINIMUM,
    ALARM_STAT_MAXIMUM,
    ALARM_STAT_PERCENTILE,   /* pNN */
    ALARM_STAT_TRIMMED_MEAN, /* TM(lo%:hi%), tmNN = TM(:NN%), IQM = TM(25%:75%) */
};

struct alarm_stat {
    enum alarm_stat_kind kind;
    double lo, hi; /* percentile: hi = p; trimmed mean: (lo, hi] in percent */
    bool extended;
};

/* One period's samples. values (n_values of them) only when a percentile-family
 * statistic needs them; count/sum/min/max always. */
struct alarm_period {
    double count, sum, min, max;
    double *values;
    size_t n_values;
};

/* One datapoint of the evaluation range. */
struct alarm_point {
    bool present;
    double value;
    double sample_count;
    int64_t ts_s; /* start of the period, UNIX seconds */
};

struct alarm_rule {
    enum alarm_cmp cmp;
    double threshold;
    unsigned evaluation_periods;  /* N */
    unsigned datapoints_to_alarm; /* M */
    enum alarm_missing missing;
    struct alarm_stat stat;
    bool low_sample_ignore; /* EvaluateLowSampleCountPercentile = ignore */
};

#define ALARM_EVAL_MAX_RANGE 64

struct alarm_result {
    enum alarm_state state;
    bool kept; /* the rules said "keep the current state" */
    /* What decided: indices into the range of the real points evaluated (newest first),
     * how many of them breach, and the synthetic points that filled the shortfall. */
    size_t evaluated[ALARM_EVAL_MAX_RANGE];
    size_t n_evaluated;
    unsigned breaching;
    unsigned filled; /* missing points treated per TreatMissingData */
    unsigned n_periods;
    bool low_samples; /* a percentile datapoint had too few samples (ignored) */
};

int alarm_stat_parse(const char *text, bool extended, struct alarm_stat *ret);
/* The statistic's value; false when the period has no value for it (no samples; a
 * percentile of negative values, as CloudWatch). Sorts p->values in place. */
bool alarm_stat_value(const struct alarm_stat *s, struct alarm_period *p, double *ret);
/* Whether `sample_count` is too low for the percentile (the EvaluateLowSampleCount rule). */
bool alarm_stat_low_samples(const struct alarm_stat *s, double sample_count);

bool alarm_breaches(const struct alarm_rule *r, double value);
void alarm_evaluate(const struct alarm_rule *r, const struct alarm_point *range, size_t range_len,
                    enum alarm_state current, struct alarm_result *ret);

/* CloudWatch's StateReason text for a result; returns the length written (truncated to
 * cap-1, always NUL-terminated). */
size_t alarm_reason_format(const struct alarm_rule *r, const struct alarm_point *range,
                           const struct alarm_result *res, char *buf, size_t cap);

const char *alarm_state_name(enum alarm_state s);     /* "ALARM", "OK", "INSUFFICIENT_DATA" */
const char *alarm_cmp_name(enum alarm_cmp c);         /* "GreaterThanThreshold", ... */
const char *alarm_missing_name(enum alarm_missing m); /* "missing", "breaching", ... */
int alarm_cmp_parse(const char *text, enum alarm_cmp *ret);
int alarm_missing_parse(const char *text, enum alarm_missing *ret);
int alarm_state_parse(const char *text, enum alarm_state *ret);

#endif
