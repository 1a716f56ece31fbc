/*
 * alarm_def: alarm definitions written with the field names of CloudWatch's
 * PutMetricAlarm and PutCompositeAlarm, parsed and validated.
 *
 * Contract
 * - alarm_def_parse() reads one JSON object (an element of `osprey.alarms`, or the file
 *   given to `osprey alarms test`). It returns 0 with *ret filled, or -EINVAL with one
 *   message per problem in `errs`, each naming the alarm and the field ("alarm 'cpu-high':
 *   'Period' must be 10, 20, 30 or a multiple of 60, got 45"); -ENOMEM. The definition
 *   keeps a reference to the JSON object (for export and notifications) and owns every
 *   string; alarm_def_release() frees it (NULL-safe, half-built-safe).
 * - A metric alarm has MetricName (+ Namespace, Dimensions, Statistic or
 *   ExtendedStatistic, Period, EvaluationPeriods, Threshold, ComparisonOperator); a
 *   composite alarm has AlarmRule instead, parsed into an expression tree whose leaves
 *   name other alarms (resolved by the engine, which reports unknown names and cycles).
 * - Actions are strings: "log", "exec:COMMAND" (run with /bin/sh -c), "webhook:URL" or a
 *   plain http(s) URL, or an SNS topic ARN ("arn:aws:sns:REGION:ACCOUNT:TOPIC").
 * - Pure apart from allocation; any thread.
 */
#ifndef OSPREY_ALARM_DEF_H
#define OSPREY_ALARM_DEF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "agent/alarm_eval.h"
#include "agent/config.h"
#include "agent/record.h"

#define ALARM_MAX_DIMS    30
#define ALARM_MAX_ACTIONS 5

enum alarm_action_kind {
    ALARM_ACTION_LOG = 0,
    ALARM_ACTION_EXEC,
    ALARM_ACTION_WEBHOOK,
    ALARM_ACTION_SNS,
};

struct alarm_action {
    enum alarm_action_kind kind;
    char *target; /* command, URL or topic ARN; NULL for log */
    char *text;   /* as written, for notifications and export */
};

enum alarm_rule_op {
    ALARM_RULE_STATE = 0, /* ALARM(name) / OK(name) / INSUFFICIENT_DATA(name) */
    ALARM_RULE_CONST,     /* TRUE / FALSE */
    ALARM_RULE_NOT,
    ALARM_RULE_AND,
    ALARM_RULE_OR,
};

struct alarm_rule_node {
    enum alarm_rule_op op;
    enum alarm_state state; /* STATE */
    bool value;             /* CONST */
    char *alarm;            /* STATE: the alarm named */
    size_t target;          /* STATE: index of that alarm, set by the engine */
    struct alarm_rule_node *left, *right;
};

struct alarm_def {
    char *name;
    char *description;
    bool composite;
    /* metric alarms */
    char *namespace_;
    char *metric_name;
    struct {
        char *name, *value;
    } dims[ALARM_MAX_DIMS];
    size_t n_dims;
    char *statistic_text; /* "Average", "p99", ... as written */
    struct alarm_rule rule;
    unsigned period_s;
    /* composite alarms */
    char *rule_text;
    struct alarm_rule_node *expr;
    /* both */
    bool actions_enabled;
    struct alarm_action actions[3][ALARM_MAX_ACTIONS]; /* by enum alarm_state */
    size_t n_actions[3];
    json_t *json; /* the definition as written (a reference) */
};

int alarm_def_parse(const json_t *obj, const char *where, struct alarm_def *ret,
                    struct cfg_errors *errs);
void alarm_def_release(struct alarm_def *d);

/* Evaluate a composite rule; state_of(i) gives the state of the alarm at index i. */
bool alarm_rule_eval(const struct alarm_rule_node *n,
                     enum alarm_state (*state_of)(void *data, size_t index), void *data);

#endif
