/*
 * The alarm evaluator as a pure state machine. Datapoint sequences are written as in the
 * CloudWatch User Guide's missing-data tables, oldest first: "X" breaching, "0" not
 * breaching, "-" missing. The two tables (evaluation range 5, N = 3, M = 3 and M = 2) are
 * reproduced row by row for every TreatMissingData value; the rest covers statistics,
 * operators, M of N, sparse data, low-sample percentiles and the reason texts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "agent/alarm_eval.h"

#define KEEP 99 /* "Retain current state" in the documentation's tables */

static size_t parse_points(const char *seq, struct alarm_point *pts)
{
    size_t n = 0;
    for (const char *s = seq; *s; s++) {
        if (*s == ' ')
            continue;
        pts[n] = (struct alarm_point){.present = *s != '-',
                                      .value = *s == 'X' ? 10.0 : 1.0,
                                      .sample_count = 1,
                                      .ts_s = 1738497600 + (int64_t)n * 60};
        n++;
    }
    return n;
}

static struct alarm_rule rule(unsigned n, unsigned m, enum alarm_missing missing)
{
    return (struct alarm_rule){.cmp = ALARM_CMP_GT,
                               .threshold = 5,
                               .evaluation_periods = n,
                               .datapoints_to_alarm = m,
                               .missing = missing};
}

static void check_row(unsigned m, const char *seq, const int expected[4])
{
    static const enum alarm_missing order[4] = {ALARM_MISSING_MISSING, ALARM_MISSING_IGNORE,
                                                ALARM_MISSING_BREACHING,
                                                ALARM_MISSING_NOT_BREACHING};
    struct alarm_point pts[16];
    size_t len = parse_points(seq, pts);
    for (int i = 0; i < 4; i++) {
        struct alarm_rule r = rule(3, m, order[i]);
        /* Each current state, so that "retain" is told apart from a coincidence. */
        for (int cur = 0; cur < 3; cur++) {
            struct alarm_result res;
            alarm_evaluate(&r, pts, len, (enum alarm_state)cur, &res);
            int want = expected[i] == KEEP ? cur : expected[i];
            if ((int)res.state != want || res.kept != (expected[i] == KEEP))
                fail_msg("M=%u '%s' %s from %s: got %s (kept %d), want %s", m, seq,
                         alarm_missing_name(order[i]), alarm_state_name((enum alarm_state)cur),
                         alarm_state_name(res.state), res.kept,
                         expected[i] == KEEP ? "kept" : alarm_state_name((enum alarm_state)want));
        }
    }
}

enum { I = ALARM_STATE_INSUFFICIENT_DATA, O = ALARM_STATE_OK, A = ALARM_STATE_ALARM };

static void test_documented_table_m3(void **state)
{
    (void)state;
    /*                         MISSING IGNORE BREACHING NOT_BREACHING */
    check_row(3, "0 - X - X", (int[]){O, O, O, O});
    check_row(3, "0 - - - -", (int[]){O, O, O, O});
    check_row(3, "- - - - -", (int[]){I, KEEP, A, O});
    check_row(3, "0 X X - X", (int[]){A, A, A, A});
    check_row(3, "- - X - -", (int[]){A, KEEP, A, O});
}

static void test_documented_table_m2(void **state)
{
    (void)state;
    check_row(2, "0 - X - X", (int[]){A, A, A, A});
    check_row(2, "0 0 X 0 X", (int[]){A, A, A, A});
    check_row(2, "0 - X - -", (int[]){O, O, A, O});
    check_row(2, "- - - - 0", (int[]){O, O, A, O});
    check_row(2, "- - X - -", (int[]){A, KEEP, A, O});
}

static void test_premature_alarm_guard(void **state)
{
    (void)state;
    /* Only recent breaching points: `missing` does not go to ALARM (the documentation's
     * "- - - - X" and "- - - X -"); it keeps what it had. */
    check_row(3, "- - - - X", (int[]){KEEP, KEEP, A, O});
    check_row(3, "- - - X -", (int[]){KEEP, KEEP, A, O});
    check_row(3, "- - - X X", (int[]){KEEP, KEEP, A, O});
    /* Old enough and nothing newer is OK: ALARM under `missing`. */
    check_row(3, "- - X X -", (int[]){A, KEEP, A, O});
    /* A newer OK point cancels the exception. */
    check_row(3, "- - X 0 -", (int[]){O, O, O, O});
}

static void test_m_of_n_without_gaps(void **state)
{
    (void)state;
    struct alarm_point pts[16];
    struct alarm_result res;
    struct alarm_rule r = rule(5, 3, ALARM_MISSING_MISSING);
    size_t len = parse_points("0 0 X 0 X 0 X", pts);
    alarm_evaluate(&r, pts, len, ALARM_STATE_OK, &res);
    assert_int_equal(res.state, ALARM_STATE_ALARM); /* newest 5: X 0 X 0 X -> 3 of 5 */
    assert_int_equal(res.breaching, 3);
    assert_int_equal(res.n_evaluated, 5);
    len = parse_points("X X X 0 0 X 0", pts);
    alarm_evaluate(&r, pts, len, ALARM_STATE_ALARM, &res);
    assert_int_equal(res.state, ALARM_STATE_OK); /* newest 5: X 0 0 X 0 -> 2 of 5 */
    /* Older extra points in the range are ignored (rule 1). */
    r = rule(1, 1, ALARM_MISSING_MISSING);
    len = parse_points("X X X X 0", pts);
    alarm_evaluate(&r, pts, len, ALARM_STATE_ALARM, &res);
    assert_int_equal(res.state, ALARM_STATE_OK);
    /* Gaps but enough real points: the newest N real points (rule 2), whatever the
     * TreatMissingData. */
    for (int mi = 0; mi < 4; mi++) {
        r = rule(3, 3, (enum alarm_missing)mi);
        len = parse_points("X - X - X", pts);
        alarm_evaluate(&r, pts, len, ALARM_STATE_OK, &res);
        assert_int_equal(res.state, ALARM_STATE_ALARM);
        assert_int_equal(res.filled, 0);
    }
}

static void test_operators(void **state)
{
    (void)state;
    struct alarm_rule r = rule(1, 1, ALARM_MISSING_MISSING);
    r.threshold = 5;
    r.cmp = ALARM_CMP_GE;
    assert_true(alarm_breaches(&r, 5));
    assert_false(alarm_breaches(&r, 4.999));
    r.cmp = ALARM_CMP_GT;
    assert_false(alarm_breaches(&r, 5));
    assert_true(alarm_breaches(&r, 5.001));
    r.cmp = ALARM_CMP_LT;
    assert_false(alarm_breaches(&r, 5));
    assert_true(alarm_breaches(&r, 4));
    r.cmp = ALARM_CMP_LE;
    assert_true(alarm_breaches(&r, 5));
    assert_false(alarm_breaches(&r, 6));
    enum alarm_cmp c;
    assert_int_equal(alarm_cmp_parse("LessThanOrEqualToThreshold", &c), 0);
    assert_int_equal(c, ALARM_CMP_LE);
    assert_int_equal(alarm_cmp_parse("GreaterThanUpperThreshold", &c), -EINVAL);
    enum alarm_missing mm;
    assert_int_equal(alarm_missing_parse("notBreaching", &mm), 0);
    assert_int_equal(mm, ALARM_MISSING_NOT_BREACHING);
    assert_int_equal(alarm_missing_parse("NotBreaching", &mm), -EINVAL);
}

static void test_statistics(void **state)
{
    (void)state;
    double values[10] = {5, 1, 9, 3, 7, 2, 8, 4, 10, 6};
    struct alarm_period p = {
        .count = 10, .sum = 55, .min = 1, .max = 10, .values = values, .n_values = 10};
    struct alarm_stat s;
    double v;
    const struct {
        const char *name;
        bool extended;
        double want;
    } cases[] = {
        {"SampleCount", false, 10}, {"Average", false, 5.5}, {"Sum", false, 55},
        {"Minimum", false, 1},      {"Maximum", false, 10},  {"p50", true, 5},
        {"p90", true, 9},           {"p99", true, 10},       {"p10", true, 1},
        {"p99.9", true, 10},        {"tm90", true, 5},       {"TM(10%:90%)", true, 5.5},
        {"IQM", true, 5.5},         {"TM(:50%)", true, 3},   {"TM(50%:)", true, 8},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(alarm_stat_parse(cases[i].name, cases[i].extended, &s), 0);
        assert_true(alarm_stat_value(&s, &p, &v));
        if (v != cases[i].want)
            fail_msg("%s: got %g, want %g", cases[i].name, v, cases[i].want);
    }
    /* Percentiles of negative values do not exist in CloudWatch. */
    double neg[2] = {-1, 3};
    struct alarm_period pn = {
        .count = 2, .sum = 2, .min = -1, .max = 3, .values = neg, .n_values = 2};
    assert_int_equal(alarm_stat_parse("p50", true, &s), 0);
    assert_false(alarm_stat_value(&s, &pn, &v));
    /* An empty period has no value, SampleCount included (it is a missing datapoint). */
    struct alarm_period empty = {0};
    assert_int_equal(alarm_stat_parse("SampleCount", false, &s), 0);
    assert_false(alarm_stat_value(&s, &empty, &v));
    assert_int_equal(alarm_stat_parse("Average", false, &s), 0);
    assert_false(alarm_stat_value(&s, &empty, &v));
    /* Malformed and unsupported. */
    assert_int_equal(alarm_stat_parse("average", false, &s), -EINVAL);
    assert_int_equal(alarm_stat_parse("p", true, &s), -EINVAL);
    assert_int_equal(alarm_stat_parse("p101", true, &s), -EINVAL);
    assert_int_equal(alarm_stat_parse("p99.999", true, &s), -EINVAL);
    assert_int_equal(alarm_stat_parse("p0", true, &s), -EINVAL);
    assert_int_equal(alarm_stat_parse("TM(90%:10%)", true, &s), -EINVAL);
    assert_int_equal(alarm_stat_parse("TM(1:5)", true, &s), -ENOTSUP);
    assert_int_equal(alarm_stat_parse("wm99", true, &s), -ENOTSUP);
    assert_int_equal(alarm_stat_parse("PR(1:2)", true, &s), -ENOTSUP);
}

static void test_low_sample_percentile(void **state)
{
    (void)state;
    struct alarm_stat s;
    assert_int_equal(alarm_stat_parse("p99", true, &s), 0);
    assert_true(alarm_stat_low_samples(&s, 999));
    assert_false(alarm_stat_low_samples(&s, 1000));
    assert_int_equal(alarm_stat_parse("p10", true, &s), 0);
    assert_true(alarm_stat_low_samples(&s, 99));
    assert_false(alarm_stat_low_samples(&s, 100));
    assert_int_equal(alarm_stat_parse("Average", false, &s), 0);
    assert_false(alarm_stat_low_samples(&s, 1));

    struct alarm_rule r = rule(1, 1, ALARM_MISSING_MISSING);
    assert_int_equal(alarm_stat_parse("p99", true, &r.stat), 0);
    struct alarm_point pts[1] = {{.present = true, .value = 10, .sample_count = 50}};
    struct alarm_result res;
    alarm_evaluate(&r, pts, 1, ALARM_STATE_OK, &res);
    assert_int_equal(res.state, ALARM_STATE_ALARM); /* evaluate (the default) */
    r.low_sample_ignore = true;
    alarm_evaluate(&r, pts, 1, ALARM_STATE_OK, &res);
    assert_int_equal(res.state, ALARM_STATE_OK);
    assert_true(res.kept);
    assert_true(res.low_samples);
    pts[0].sample_count = 1000;
    alarm_evaluate(&r, pts, 1, ALARM_STATE_OK, &res);
    assert_int_equal(res.state, ALARM_STATE_ALARM);
}

static void reason_of(const struct alarm_rule *r, const char *seq, enum alarm_state cur, char *buf,
                      size_t cap)
{
    struct alarm_point pts[16];
    size_t len = parse_points(seq, pts);
    struct alarm_result res;
    alarm_evaluate(r, pts, len, cur, &res);
    alarm_reason_format(r, pts, &res, buf, cap);
}

static void test_reasons(void **state)
{
    (void)state;
    char buf[1024];
    struct alarm_rule r = rule(1, 1, ALARM_MISSING_MISSING);
    r.cmp = ALARM_CMP_GE;
    r.threshold = 1;
    reason_of(&r, "X", ALARM_STATE_OK, buf, sizeof(buf));
    /* 2025-02-02 12:00:00 UTC is 1738497600. */
    assert_string_equal(buf, "Threshold Crossed: 1 datapoint [10.0 (02/02/25 12:00:00)] was "
                             "greater than or equal to the threshold (1.0).");
    r.threshold = 5;
    reason_of(&r, "0", ALARM_STATE_ALARM, buf, sizeof(buf));
    assert_string_equal(buf, "Threshold Crossed: 1 datapoint [1.0 (02/02/25 12:00:00)] was not "
                             "greater than or equal to the threshold (5.0).");
    r = rule(3, 2, ALARM_MISSING_MISSING);
    reason_of(&r, "0 X X", ALARM_STATE_OK, buf, sizeof(buf));
    assert_string_equal(buf, "Threshold Crossed: 2 out of the last 3 datapoints [10.0 (02/02/25 "
                             "12:02:00), 10.0 (02/02/25 12:01:00)] were greater than the "
                             "threshold (5.0) (minimum 2 datapoints for OK -> ALARM transition).");
    r = rule(3, 3, ALARM_MISSING_BREACHING);
    reason_of(&r, "- - - - -", ALARM_STATE_OK, buf, sizeof(buf));
    assert_string_equal(buf, "Threshold Crossed: no datapoints were received for 3 periods and 3 "
                             "missing datapoints were treated as [Breaching].");
    reason_of(&r, "- - X - -", ALARM_STATE_OK, buf, sizeof(buf));
    assert_string_equal(buf, "Threshold Crossed: 1 datapoint was received for 3 periods and 2 "
                             "missing datapoints were treated as [Breaching].");
    r = rule(3, 3, ALARM_MISSING_NOT_BREACHING);
    reason_of(&r, "- - - - -", ALARM_STATE_ALARM, buf, sizeof(buf));
    assert_string_equal(buf, "Threshold Crossed: no datapoints were received for 3 periods and 3 "
                             "missing datapoints were treated as [NonBreaching].");
    r = rule(3, 3, ALARM_MISSING_MISSING);
    reason_of(&r, "- - - - -", ALARM_STATE_OK, buf, sizeof(buf));
    assert_string_equal(buf, "Insufficient Data: 3 datapoints were unknown.");
    r = rule(3, 3, ALARM_MISSING_IGNORE);
    reason_of(&r, "- - - - -", ALARM_STATE_OK, buf, sizeof(buf));
    assert_string_equal(buf, ""); /* kept: the old reason stands */
    /* Truncation keeps a terminated string. */
    char small[16];
    r = rule(1, 1, ALARM_MISSING_MISSING);
    reason_of(&r, "X", ALARM_STATE_OK, small, sizeof(small));
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

/* A long random walk against a brute-force restatement of the rules for every
 * N/M/TreatMissingData combination: the state machine never leaves the documented
 * outcomes (ALARM needs breaching evidence, OK never comes from breaching-only evidence
 * under missing/ignore, INSUFFICIENT_DATA only from an all-missing range under missing). */
static void test_invariants_random(void **state)
{
    (void)state;
    unsigned seed = 12345;
    for (int iter = 0; iter < 20000; iter++) {
        seed = seed * 1103515245u + 12345u;
        unsigned n = 1 + (seed >> 16) % 5;
        unsigned m = 1 + (seed >> 8) % n;
        enum alarm_missing mi = (enum alarm_missing)((seed >> 4) % 4);
        struct alarm_point pts[8];
        size_t len = n + 2, real = 0, breaching = 0;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned k = (seed >> 16) % 3;
            pts[i] = (struct alarm_point){
                .present = k != 0, .value = k == 2 ? 10 : 1, .sample_count = 1};
            real += k != 0;
            breaching += k == 2;
        }
        struct alarm_rule r = rule(n, m, mi);
        enum alarm_state cur = (enum alarm_state)((seed >> 3) % 3);
        struct alarm_result res;
        alarm_evaluate(&r, pts, len, cur, &res);
        if (res.state == ALARM_STATE_INSUFFICIENT_DATA && !res.kept)
            assert_true(real == 0 && mi == ALARM_MISSING_MISSING);
        if (res.state == ALARM_STATE_ALARM && !res.kept)
            assert_true(breaching > 0 || mi == ALARM_MISSING_BREACHING);
        if (real >= n) {
            assert_false(res.kept);
            assert_int_equal(res.filled, 0);
            assert_int_equal(res.n_evaluated, n);
        }
        if (res.kept)
            assert_int_equal(res.state, cur);
        assert_true(res.n_evaluated <= n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documented_table_m3),
        cmocka_unit_test(test_documented_table_m2),
        cmocka_unit_test(test_premature_alarm_guard),
        cmocka_unit_test(test_m_of_n_without_gaps),
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_statistics),
        cmocka_unit_test(test_low_sample_percentile),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_invariants_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
