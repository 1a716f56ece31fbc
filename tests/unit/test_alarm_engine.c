/*
 * The alarm engine: definitions and their errors, matching points to alarms, periods and
 * the evaluation schedule, late data, composite alarms, persistence across a restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <errno.h>

#include "agent/alarm_engine.h"

#define T0 1738497600000LL /* 2025-02-02T12:00:00Z, a multiple of every period */

static int engine_from(struct alarm_engine *e, const char *json, struct cfg_errors *errs)
{
    json_error_t jerr;
    json_t *defs = json_loads(json, 0, &jerr);
    if (!defs)
        fail_msg("bad test JSON: %s", jerr.text);
    int r = alarm_engine_init(e, defs, "t", errs);
    json_decref(defs);
    return r;
}

static const char *const ALARMS =
    "[{\"AlarmName\": \"cpu\", \"Namespace\": \"CWAgent\", \"MetricName\": \"cpu_usage_user\","
    "  \"Dimensions\": [{\"Name\": \"host\", \"Value\": \"h\"}], \"Statistic\": \"Maximum\","
    "  \"Period\": 60, \"EvaluationPeriods\": 2, \"Threshold\": 50,"
    "  \"ComparisonOperator\": \"GreaterThanThreshold\"},"
    " {\"AlarmName\": \"p90\", \"Namespace\": \"App\", \"MetricName\": \"latency\","
    "  \"ExtendedStatistic\": \"p90\", \"Period\": 10, \"EvaluationPeriods\": 1, \"Threshold\": "
    "100,"
    "  \"ComparisonOperator\": \"GreaterThanOrEqualToThreshold\"},"
    " {\"AlarmName\": \"both\", \"AlarmRule\": \"ALARM(cpu) AND NOT OK(\\\"p90\\\")\"}]";

static struct metric_point point(const char *ns, const char *name, double v, const char *host)
{
    struct metric_point p = {.namespace_ = ns, .name = name, .value = v};
    if (host)
        metric_point_add_dim(&p, "host", host);
    return p;
}

struct changes {
    char log[16][64];
    int n;
};

static void on_change(void *data, const struct alarm_entry *a, enum alarm_state old, int64_t now)
{
    struct changes *c = data;
    (void)now;
    if (c->n < 16)
        snprintf(c->log[c->n++], 64, "%s %s->%s", a->def.name, alarm_state_name(old),
                 alarm_state_name(a->state));
}

static void test_definition_errors(void **state)
{
    (void)state;
    struct alarm_engine e;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    assert_int_equal(engine_from(&e,
                                 "[{\"AlarmName\": \"a\", \"AlarmRule\": \"ALARM(b)\"},"
                                 " {\"AlarmName\": \"b\", \"AlarmRule\": \"OK(a) OR ALARM(zz)\"},"
                                 " {\"AlarmName\": \"c\", \"AlarmRule\": \"ALARM(c\"},"
                                 " {\"AlarmName\": \"d\", \"AlarmRule\": \"TRUE\"},"
                                 " {\"AlarmName\": \"d\", \"AlarmRule\": \"FALSE\"},"
                                 " {\"AlarmName\": \"e\", \"MetricName\": \"m\", \"Namespace\": "
                                 "\"n\", \"Statistic\": \"Sum\", \"Period\": 60, "
                                 "\"EvaluationPeriods\": 1, \"Threshold\": 1, "
                                 "\"ComparisonOperator\": \"LessThanThreshold\", \"Metrics\": []}]",
                                 &errs),
                     -EINVAL);
    const char *want[] = {"alarm 'c': 'AlarmRule'", "alarm 'd' is defined twice",
                          "alarm 'b': 'AlarmRule' names alarm 'zz', which is not defined",
                          "alarm 'e': 'Metrics' is not supported"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        bool found = false;
        for (size_t j = 0; j < errs.n && !found; j++)
            found = strstr(errs.msgs[j], want[i]) != NULL;
        if (!found)
            fail_msg("no error containing \"%s\" (%zu errors)", want[i], errs.n);
    }
    cfg_errors_release(&errs);

    cfg_errors_init(&errs);
    assert_int_equal(engine_from(&e,
                                 "[{\"AlarmName\": \"a\", \"AlarmRule\": \"ALARM(b)\"},"
                                 " {\"AlarmName\": \"b\", \"AlarmRule\": \"NOT ALARM(a)\"}]",
                                 &errs),
                     -EINVAL);
    assert_non_null(strstr(errs.msgs[0], "depends on itself"));
    cfg_errors_release(&errs);
}

static void test_matching_periods_and_composites(void **state)
{
    (void)state;
    struct alarm_engine e;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    assert_int_equal(engine_from(&e, ALARMS, &errs), 0);
    cfg_errors_release(&errs);
    struct changes ch = {0};

    /* Exact dimension sets only: another host, no host, or an extra dimension do not count. */
    struct metric_point p = point("CWAgent", "cpu_usage_user", 90, "h");
    struct metric_point other = point("CWAgent", "cpu_usage_user", 90, "other");
    struct metric_point none = point("CWAgent", "cpu_usage_user", 90, NULL);
    struct metric_point extra = point("CWAgent", "cpu_usage_user", 90, "h");
    metric_point_add_dim(&extra, "cpu", "cpu0");
    for (int minute = 0; minute < 2; minute++) {
        alarm_engine_add_point(&e, &other, T0 + minute * 60000 + 5000);
        alarm_engine_add_point(&e, &none, T0 + minute * 60000 + 5000);
        alarm_engine_add_point(&e, &extra, T0 + minute * 60000 + 5000);
    }
    assert_int_equal(e.points_matched, 0);
    p.value = 10;
    alarm_engine_add_point(&e, &p, T0 + 1000);
    p.value = 60; /* Maximum of minute 0: 60 */
    alarm_engine_add_point(&e, &p, T0 + 30000);
    p.value = 70;
    alarm_engine_add_point(&e, &p, T0 + 61000);

    /* Nothing is due before the first minute ended plus the grace. */
    alarm_engine_evaluate(&e, T0 + 60000 + 1000, on_change, &ch);
    struct alarm_entry *cpu = alarm_engine_find(&e, "cpu");
    assert_int_equal(cpu->state, ALARM_STATE_INSUFFICIENT_DATA);
    /* The composite is evaluated at once: cpu not in ALARM -> false -> OK. */
    assert_int_equal(ch.n, 1);
    assert_string_equal(ch.log[0], "both INSUFFICIENT_DATA->OK");
    assert_int_equal(alarm_engine_next_due(&e, T0 + 61000), T0 + 60000 + 2000);

    alarm_engine_evaluate(&e, T0 + 120000 + 2000, on_change, &ch);
    assert_int_equal(cpu->state, ALARM_STATE_ALARM); /* 60, 70 > 50: 2 of 2 */
    assert_int_equal(ch.n, 3);
    assert_string_equal(ch.log[1], "cpu INSUFFICIENT_DATA->ALARM");
    /* p90 is INSUFFICIENT_DATA, so NOT OK(p90) holds: the composite follows cpu. */
    assert_string_equal(ch.log[2], "both OK->ALARM");
    assert_non_null(strstr(cpu->reason, "2 out of the last 2 datapoints [70.0 (02/02/25 12:01:00), "
                                        "60.0 (02/02/25 12:00:00)]"));
    assert_non_null(cpu->reason_data);
    assert_int_equal(json_integer_value(json_object_get(cpu->reason_data, "period")), 60);

    /* Evaluating the same period again changes nothing. */
    alarm_engine_evaluate(&e, T0 + 120000 + 30000, on_change, &ch);
    assert_int_equal(ch.n, 3);

    /* Late data: a point for a period already out of the range is ignored and counted. */
    p.value = 1;
    alarm_engine_add_point(&e, &p, T0 - 10 * 60000);
    assert_int_equal(cpu->late_points, 1);
    alarm_engine_release(&e);
}

static void test_percentiles_and_statistic_sets(void **state)
{
    (void)state;
    struct alarm_engine e;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    assert_int_equal(engine_from(&e, ALARMS, &errs), 0);
    cfg_errors_release(&errs);
    struct metric_point p = point("App", "latency", 0, NULL);
    for (int i = 1; i <= 100; i++) {
        p.value = i * 2; /* 2..200: p90 = 180 */
        alarm_engine_add_point(&e, &p, T0 + i * 50);
    }
    /* A statistic set counts for count/sum/min/max but adds no raw values. */
    struct metric_point set = point("App", "latency", 0, NULL);
    set.value_kind = METRIC_VALUE_STATS;
    set.count = 1000;
    set.sum = 1000;
    set.min = 1;
    set.max = 1;
    alarm_engine_add_point(&e, &set, T0 + 6000);
    struct changes ch = {0};
    alarm_engine_evaluate(&e, T0 + 12000, on_change, &ch);
    struct alarm_entry *a = alarm_engine_find(&e, "p90");
    assert_int_equal(a->state, ALARM_STATE_ALARM);
    assert_non_null(strstr(a->reason, "[180.0 (02/02/25 12:00:00)]"));
    json_t *dp = json_array_get(json_object_get(a->reason_data, "evaluatedDatapoints"), 0);
    assert_true(json_real_value(json_object_get(dp, "sampleCount")) == 1100.0);
    alarm_engine_release(&e);
}

static void test_persistence_across_restart(void **state)
{
    (void)state;
    char path[] = "/tmp/osprey-alarm-state-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct alarm_engine e;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    assert_int_equal(engine_from(&e, ALARMS, &errs), 0);
    struct metric_point p = point("CWAgent", "cpu_usage_user", 99, "h");
    alarm_engine_add_point(&e, &p, T0 + 1000);
    alarm_engine_add_point(&e, &p, T0 + 61000);
    alarm_engine_evaluate(&e, T0 + 122000, NULL, NULL);
    assert_int_equal(alarm_engine_find(&e, "cpu")->state, ALARM_STATE_ALARM);
    assert_int_equal(alarm_engine_save(&e, path), 0);
    char reason[ALARM_REASON_MAX];
    snprintf(reason, sizeof(reason), "%s", alarm_engine_find(&e, "cpu")->reason);
    alarm_engine_release(&e);

    /* A new engine (restart) with one alarm changed and one removed. */
    assert_int_equal(
        engine_from(&e,
                    "[{\"AlarmName\": \"cpu\", \"Namespace\": \"CWAgent\", \"MetricName\": "
                    "\"cpu_usage_user\", \"Dimensions\": [{\"Name\": \"host\", \"Value\": \"h\"}],"
                    " \"Statistic\": \"Average\", \"Period\": 60, \"EvaluationPeriods\": 3, "
                    "\"Threshold\": 50, \"ComparisonOperator\": \"GreaterThanThreshold\"}]",
                    &errs),
        0);
    cfg_errors_release(&errs);
    assert_int_equal(alarm_engine_load(&e, path), 0);
    struct alarm_entry *cpu = alarm_engine_find(&e, "cpu");
    assert_int_equal(cpu->state, ALARM_STATE_ALARM);
    assert_string_equal(cpu->reason, reason);
    assert_int_equal(cpu->history_len, 1);
    assert_int_equal(cpu->history[0].old_state, ALARM_STATE_INSUFFICIENT_DATA);
    assert_int_equal(cpu->history[0].new_state, ALARM_STATE_ALARM);
    assert_int_equal(cpu->since_ms, T0 + 122000);
    /* A garbage file is reported, a missing one is -ENOENT. */
    FILE *f = fopen(path, "w");
    fputs("{not json", f);
    fclose(f);
    assert_int_equal(alarm_engine_load(&e, path), -EBADMSG);
    unlink(path);
    assert_int_equal(alarm_engine_load(&e, path), -ENOENT);
    alarm_engine_release(&e);
}

static void test_history_is_bounded(void **state)
{
    (void)state;
    struct alarm_engine e;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    assert_int_equal(engine_from(&e, ALARMS, &errs), 0);
    cfg_errors_release(&errs);
    struct metric_point p = point("App", "latency", 0, NULL);
    for (int i = 0; i < 3 * ALARM_HISTORY_MAX; i++) {
        p.value = i % 2 ? 500 : 1; /* flips every period */
        alarm_engine_add_point(&e, &p, T0 + (int64_t)i * 10000 + 1000);
        alarm_engine_evaluate(&e, T0 + (int64_t)(i + 1) * 10000 + 2000, NULL, NULL);
    }
    struct alarm_entry *a = alarm_engine_find(&e, "p90");
    assert_int_equal(a->history_len, ALARM_HISTORY_MAX);
    json_t *list = alarm_engine_list_json(&e, true);
    json_t *h = json_object_get(json_array_get(json_object_get(list, "alarms"), 1), "History");
    assert_int_equal(json_array_size(h), ALARM_HISTORY_MAX);
    /* Oldest first, newest last: the last entry is the last transition. */
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(h, ALARM_HISTORY_MAX - 1), "NewState")),
        alarm_state_name(a->state));
    json_decref(list);
    alarm_engine_release(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_definition_errors),
        cmocka_unit_test(test_matching_periods_and_composites),
        cmocka_unit_test(test_percentiles_and_statistic_sets),
        cmocka_unit_test(test_persistence_across_restart),
        cmocka_unit_test(test_history_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
