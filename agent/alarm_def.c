#include "agent/alarm_def.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parse {
    const json_t *obj;
    const char *where; /* "osprey.alarms[3]" or a file name */
    const char *name;  /* AlarmName once known */
    struct cfg_errors *errs;
    int ret;
};

static void def_error(struct parse *p, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void def_error(struct parse *p, const char *field, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->name)
        cfg_errors_add(p->errs, "%s: alarm '%s': '%s' %s", p->where, p->name, field, msg);
    else
        cfg_errors_add(p->errs, "%s: '%s' %s", p->where, field, msg);
    if (p->ret == 0)
        p->ret = -EINVAL;
}

static char *dup_or_fail(struct parse *p, const char *s)
{
    char *d = strdup(s);
    if (!d)
        p->ret = -ENOMEM;
    return d;
}

/* A string field: NULL when absent (or wrong, reported). */
static const char *get_string(struct parse *p, const char *field, bool required, size_t max_len)
{
    json_t *v = json_object_get(p->obj, field);
    if (!v) {
        if (required)
            def_error(p, field, "is required");
        return NULL;
    }
    if (!json_is_string(v)) {
        def_error(p, field, "must be a string");
        return NULL;
    }
    size_t len = json_string_length(v);
    if ((required && len == 0) || len > max_len) {
        def_error(p, field, "must be 1 to %zu characters, got %zu", max_len, len);
        return NULL;
    }
    return json_string_value(v);
}

static bool get_number(struct parse *p, const char *field, bool required, double *ret)
{
    json_t *v = json_object_get(p->obj, field);
    if (!v) {
        if (required)
            def_error(p, field, "is required");
        return false;
    }
    if (!json_is_number(v)) {
        def_error(p, field, "must be a number");
        return false;
    }
    *ret = json_number_value(v);
    return true;
}

static bool get_count(struct parse *p, const char *field, bool required, unsigned *ret)
{
    double v;
    if (!get_number(p, field, required, &v))
        return false;
    if (v < 1 || v > 100000 || v != floor(v)) {
        def_error(p, field, "must be a whole number of at least 1, got %g", v);
        return false;
    }
    *ret = (unsigned)v;
    return true;
}

static int parse_action(struct parse *p, const char *field, const char *text,
                        struct alarm_action *a)
{
    a->text = dup_or_fail(p, text);
    if (!a->text)
        return -ENOMEM;
    const char *target = NULL;
    if (strcmp(text, "log") == 0) {
        a->kind = ALARM_ACTION_LOG;
    } else if (strncmp(text, "exec:", 5) == 0 && text[5]) {
        a->kind = ALARM_ACTION_EXEC;
        target = text + 5;
    } else if (strncmp(text, "webhook:", 8) == 0 &&
               (strncmp(text + 8, "http://", 7) == 0 || strncmp(text + 8, "https://", 8) == 0)) {
        a->kind = ALARM_ACTION_WEBHOOK;
        target = text + 8;
    } else if (strncmp(text, "http://", 7) == 0 || strncmp(text, "https://", 8) == 0) {
        a->kind = ALARM_ACTION_WEBHOOK;
        target = text;
    } else if (strncmp(text, "arn:aws", 7) == 0 && strstr(text, ":sns:")) {
        /* arn:PARTITION:sns:REGION:ACCOUNT:TOPIC */
        int colons = 0;
        for (const char *s = text; *s; s++)
            colons += *s == ':';
        if (colons != 5) {
            def_error(p, field, "'%s' is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC)",
                      text);
            return -EINVAL;
        }
        a->kind = ALARM_ACTION_SNS;
        target = text;
    } else {
        def_error(p, field,
                  "has an action Osprey cannot run: '%s' (use \"log\", \"exec:COMMAND\", "
                  "\"webhook:URL\" or an SNS topic ARN; EC2, Auto Scaling and Systems Manager "
                  "actions are CloudWatch's own)",
                  text);
        return -EINVAL;
    }
    if (target) {
        a->target = dup_or_fail(p, target);
        if (!a->target)
            return -ENOMEM;
    }
    return 0;
}

static void parse_actions(struct parse *p, struct alarm_def *d)
{
    static const char *const fields[3] = {"InsufficientDataActions", "OKActions", "AlarmActions"};
    for (int s = 0; s < 3; s++) {
        json_t *arr = json_object_get(p->obj, fields[s]);
        if (!arr)
            continue;
        if (!json_is_array(arr) || json_array_size(arr) > ALARM_MAX_ACTIONS) {
            def_error(p, fields[s], "must be an array of at most %d actions", ALARM_MAX_ACTIONS);
            continue;
        }
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v)
        {
            if (!json_is_string(v)) {
                def_error(p, fields[s], "must hold strings");
                break;
            }
            if (parse_action(p, fields[s], json_string_value(v), &d->actions[s][d->n_actions[s]]) ==
                -ENOMEM)
                return;
            d->n_actions[s]++;
        }
    }
}

/* ---- AlarmRule -------------------------------------------------------------------- */

struct lexer {
    const char *s;
    const char *error;
};

static void skip_space(struct lexer *lx)
{
    while (*lx->s && isspace((unsigned char)*lx->s))
        lx->s++;
}

static bool take_word(struct lexer *lx, const char *word)
{
    skip_space(lx);
    size_t n = strlen(word);
    if (strncmp(lx->s, word, n) != 0)
        return false;
    char next = lx->s[n];
    if (isalnum((unsigned char)next) || next == '_')
        return false;
    lx->s += n;
    return true;
}

static bool take_char(struct lexer *lx, char c)
{
    skip_space(lx);
    if (*lx->s != c)
        return false;
    lx->s++;
    return true;
}

static struct alarm_rule_node *node_new(enum alarm_rule_op op)
{
    struct alarm_rule_node *n = calloc(1, sizeof(*n));
    if (n)
        n->op = op;
    return n;
}

static void node_free(struct alarm_rule_node *n)
{
    if (!n)
        return;
    node_free(n->left);
    node_free(n->right);
    free(n->alarm);
    free(n);
}

static struct alarm_rule_node *parse_or(struct lexer *lx, int depth);

static struct alarm_rule_node *parse_primary(struct lexer *lx, int depth)
{
    if (depth > 64) {
        lx->error = "nests too deeply";
        return NULL;
    }
    if (take_word(lx, "NOT")) {
        struct alarm_rule_node *inner = parse_primary(lx, depth + 1);
        if (!inner)
            return NULL;
        struct alarm_rule_node *n = node_new(ALARM_RULE_NOT);
        if (!n) {
            node_free(inner);
            lx->error = "out of memory";
            return NULL;
        }
        n->left = inner;
        return n;
    }
    if (take_char(lx, '(')) {
        struct alarm_rule_node *inner = parse_or(lx, depth + 1);
        if (!inner)
            return NULL;
        if (!take_char(lx, ')')) {
            node_free(inner);
            lx->error = "misses a closing parenthesis";
            return NULL;
        }
        return inner;
    }
    bool is_true = take_word(lx, "TRUE");
    if (is_true || take_word(lx, "FALSE")) {
        struct alarm_rule_node *n = node_new(ALARM_RULE_CONST);
        if (!n) {
            lx->error = "out of memory";
            return NULL;
        }
        n->value = is_true;
        return n;
    }
    static const struct {
        const char *word;
        enum alarm_state state;
    } fns[] = {{"ALARM", ALARM_STATE_ALARM},
               {"OK", ALARM_STATE_OK},
               {"INSUFFICIENT_DATA", ALARM_STATE_INSUFFICIENT_DATA}};
    for (size_t i = 0; i < 3; i++) {
        if (!take_word(lx, fns[i].word))
            continue;
        if (!take_char(lx, '(')) {
            lx->error = "expects '(' after a state function";
            return NULL;
        }
        skip_space(lx);
        /* The argument: a name, or a quoted name (AlarmRule allows "..." quoting). */
        const char *start = lx->s, *end;
        if (*lx->s == '"') {
            start = ++lx->s;
            while (*lx->s && *lx->s != '"')
                lx->s++;
            if (*lx->s != '"') {
                lx->error = "has an unterminated quoted alarm name";
                return NULL;
            }
            end = lx->s++;
        } else {
            while (*lx->s && *lx->s != ')' && !isspace((unsigned char)*lx->s))
                lx->s++;
            end = lx->s;
        }
        if (end == start || !take_char(lx, ')')) {
            lx->error = "expects an alarm name and ')'";
            return NULL;
        }
        struct alarm_rule_node *n = node_new(ALARM_RULE_STATE);
        if (n)
            n->alarm = strndup(start, (size_t)(end - start));
        if (!n || !n->alarm) {
            node_free(n);
            lx->error = "out of memory";
            return NULL;
        }
        n->state = fns[i].state;
        return n;
    }
    lx->error = "expects ALARM(name), OK(name), INSUFFICIENT_DATA(name), TRUE, FALSE, NOT or '('";
    return NULL;
}

static struct alarm_rule_node *parse_binary(struct lexer *lx, int depth, const char *word,
                                            enum alarm_rule_op op,
                                            struct alarm_rule_node *(*next)(struct lexer *, int))
{
    struct alarm_rule_node *left = next(lx, depth);
    while (left && take_word(lx, word)) {
        struct alarm_rule_node *right = next(lx, depth);
        struct alarm_rule_node *n = right ? node_new(op) : NULL;
        if (!n) {
            node_free(left);
            node_free(right);
            if (!lx->error)
                lx->error = "out of memory";
            return NULL;
        }
        n->left = left;
        n->right = right;
        left = n;
    }
    return left;
}

static struct alarm_rule_node *parse_and(struct lexer *lx, int depth)
{
    return parse_binary(lx, depth, "AND", ALARM_RULE_AND, parse_primary);
}

static struct alarm_rule_node *parse_or(struct lexer *lx, int depth)
{
    return parse_binary(lx, depth, "OR", ALARM_RULE_OR, parse_and);
}

bool alarm_rule_eval(const struct alarm_rule_node *n,
                     enum alarm_state (*state_of)(void *data, size_t index), void *data)
{
    switch (n->op) {
    case ALARM_RULE_STATE:
        return state_of(data, n->target) == n->state;
    case ALARM_RULE_CONST:
        return n->value;
    case ALARM_RULE_NOT:
        return !alarm_rule_eval(n->left, state_of, data);
    case ALARM_RULE_AND:
        return alarm_rule_eval(n->left, state_of, data) &&
               alarm_rule_eval(n->right, state_of, data);
    case ALARM_RULE_OR:
        return alarm_rule_eval(n->left, state_of, data) ||
               alarm_rule_eval(n->right, state_of, data);
    }
    return false;
}

/* ---- the definition --------------------------------------------------------------- */

static const char *const metric_fields[] = {
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Tags",
    NULL,
};
static const char *const composite_fields[] = {
    "AlarmName",    "AlarmDescription",        "ActionsEnabled", "OKActions",
    "AlarmActions", "InsufficientDataActions", "AlarmRule",      "Tags",
    NULL,
};
/* PutMetricAlarm members Osprey does not evaluate: named, so the error says why. */
static const char *const unsupported_fields[] = {"Metrics", "ThresholdMetricId", NULL};

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

static void parse_metric_alarm(struct parse *p, struct alarm_def *d)
{
    const char *s;
    if ((s = get_string(p, "MetricName", true, 255)))
        d->metric_name = dup_or_fail(p, s);
    if ((s = get_string(p, "Namespace", true, 255)))
        d->namespace_ = dup_or_fail(p, s);

    const char *stat = get_string(p, "Statistic", false, 64);
    const char *ext = get_string(p, "ExtendedStatistic", false, 64);
    if (!!stat == !!ext) {
        def_error(p, stat ? "ExtendedStatistic" : "Statistic",
                  stat ? "cannot be given with Statistic" : "or ExtendedStatistic is required");
    } else {
        int r = alarm_stat_parse(stat ? stat : ext, ext != NULL, &d->rule.stat);
        if (r == -ENOTSUP)
            def_error(p, stat ? "Statistic" : "ExtendedStatistic",
                      "'%s' is not computed by Osprey (supported: pNN, pNN.NN, tmNN, TM(a%%:b%%), "
                      "IQM)",
                      ext);
        else if (r != 0)
            def_error(
                p, stat ? "Statistic" : "ExtendedStatistic",
                stat ? "must be SampleCount, Average, Sum, Minimum or Maximum, got '%s'"
                     : "'%s' is not an extended statistic (pNN, pNN.NN, tmNN, TM(a%%:b%%), IQM)",
                stat ? stat : ext);
        d->statistic_text = dup_or_fail(p, stat ? stat : ext);
    }

    double period;
    if (get_number(p, "Period", true, &period)) {
        if (!(period == 10 || period == 20 || period == 30 ||
              (period >= 60 && period <= 86400 && fmod(period, 60) == 0)))
            def_error(p, "Period", "must be 10, 20, 30 or a multiple of 60, got %g", period);
        else
            d->period_s = (unsigned)period;
    }
    unsigned n = 0, m = 0;
    if (get_count(p, "EvaluationPeriods", true, &n))
        d->rule.evaluation_periods = n;
    if (get_count(p, "DatapointsToAlarm", false, &m)) {
        if (n && m > n)
            def_error(p, "DatapointsToAlarm", "(%u) cannot exceed EvaluationPeriods (%u)", m, n);
        d->rule.datapoints_to_alarm = m;
    } else {
        d->rule.datapoints_to_alarm = n;
    }
    if (d->period_s && n) {
        double span = (double)d->period_s * n;
        if (span > 604800 || (d->period_s < 3600 && span > 86400))
            def_error(p, "EvaluationPeriods",
                      "times Period must not exceed one day (one week for periods of an hour "
                      "or more), got %g s",
                      span);
        if (n + 2 > ALARM_EVAL_MAX_RANGE)
            def_error(p, "EvaluationPeriods", "must be at most %d in Osprey",
                      ALARM_EVAL_MAX_RANGE - 2);
    }
    get_number(p, "Threshold", true, &d->rule.threshold);
    if ((s = get_string(p, "ComparisonOperator", true, 64)) &&
        alarm_cmp_parse(s, &d->rule.cmp) != 0)
        def_error(p, "ComparisonOperator",
                  "must be GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold "
                  "or LessThanOrEqualToThreshold, got '%s' (anomaly-detection bands are not "
                  "supported)",
                  s);
    d->rule.missing = ALARM_MISSING_MISSING;
    if ((s = get_string(p, "TreatMissingData", false, 32)) &&
        alarm_missing_parse(s, &d->rule.missing) != 0)
        def_error(p, "TreatMissingData",
                  "must be missing, ignore, breaching or notBreaching, got '%s'", s);
    if ((s = get_string(p, "EvaluateLowSampleCountPercentile", false, 32))) {
        if (strcmp(s, "ignore") == 0)
            d->rule.low_sample_ignore = true;
        else if (strcmp(s, "evaluate") != 0)
            def_error(p, "EvaluateLowSampleCountPercentile", "must be evaluate or ignore, got '%s'",
                      s);
    }

    json_t *dims = json_object_get(p->obj, "Dimensions");
    if (dims && (!json_is_array(dims) || json_array_size(dims) > ALARM_MAX_DIMS)) {
        def_error(p, "Dimensions", "must be an array of at most %d {\"Name\", \"Value\"} objects",
                  ALARM_MAX_DIMS);
    } else if (dims) {
        size_t i;
        json_t *dim;
        json_array_foreach(dims, i, dim)
        {
            json_t *name = json_object_get(dim, "Name"), *value = json_object_get(dim, "Value");
            if (!json_is_object(dim) || !json_is_string(name) || !json_is_string(value) ||
                json_object_size(dim) != 2) {
                def_error(p, "Dimensions",
                          "element %zu must be {\"Name\": \"...\", \"Value\": \"...\"}", i);
                continue;
            }
            for (size_t j = 0; j < d->n_dims; j++)
                if (strcmp(d->dims[j].name, json_string_value(name)) == 0)
                    def_error(p, "Dimensions", "names '%s' twice", json_string_value(name));
            d->dims[d->n_dims].name = dup_or_fail(p, json_string_value(name));
            d->dims[d->n_dims].value = dup_or_fail(p, json_string_value(value));
            d->n_dims++;
        }
    }
    if ((s = get_string(p, "Unit", false, 64))) {
        enum metric_unit unit;
        if (metric_unit_parse(s, &unit) != 0)
            def_error(p, "Unit", "'%s' is not a CloudWatch unit", s);
    }
}

int alarm_def_parse(const json_t *obj, const char *where, struct alarm_def *d,
                    struct cfg_errors *errs)
{
    memset(d, 0, sizeof(*d));
    struct parse p = {.obj = obj, .where = where, .errs = errs};
    if (!json_is_object(obj)) {
        cfg_errors_add(errs, "%s: an alarm must be an object", where);
        return -EINVAL;
    }
    d->json = json_incref((json_t *)obj);
    const char *name = get_string(&p, "AlarmName", true, 255);
    if (name) {
        d->name = dup_or_fail(&p, name);
        p.name = name;
    }
    d->composite = json_object_get(obj, "AlarmRule") != NULL;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        if (in_list(unsupported_fields, key))
            def_error(&p, key,
                      "is not supported: Osprey evaluates single-metric alarms (no metric "
                      "math, no anomaly detection)");
        else if (!in_list(d->composite ? composite_fields : metric_fields, key))
            def_error(&p, key, "is not a %s field",
                      d->composite ? "PutCompositeAlarm" : "PutMetricAlarm");
    }
    const char *desc = get_string(&p, "AlarmDescription", false, 1024);
    if (desc)
        d->description = dup_or_fail(&p, desc);
    d->actions_enabled = true;
    json_t *ae = json_object_get(obj, "ActionsEnabled");
    if (ae && !json_is_boolean(ae))
        def_error(&p, "ActionsEnabled", "must be true or false");
    else if (ae)
        d->actions_enabled = json_is_true(ae);
    parse_actions(&p, d);

    if (d->composite) {
        const char *text = get_string(&p, "AlarmRule", true, 10240);
        if (text) {
            d->rule_text = dup_or_fail(&p, text);
            struct lexer lx = {.s = text};
            d->expr = parse_or(&lx, 0);
            skip_space(&lx);
            if (d->expr && *lx.s)
                lx.error = "has unexpected text";
            if (lx.error) {
                def_error(&p, "AlarmRule", "%s at offset %td: '%s'", lx.error, lx.s - text, text);
                node_free(d->expr);
                d->expr = NULL;
            }
        }
    } else {
        parse_metric_alarm(&p, d);
    }
    if (p.ret != 0)
        alarm_def_release(d);
    return p.ret;
}

void alarm_def_release(struct alarm_def *d)
{
    if (!d)
        return;
    free(d->name);
    free(d->description);
    free(d->namespace_);
    free(d->metric_name);
    for (size_t i = 0; i < d->n_dims; i++) {
        free(d->dims[i].name);
        free(d->dims[i].value);
    }
    free(d->statistic_text);
    free(d->rule_text);
    node_free(d->expr);
    for (int s = 0; s < 3; s++) {
        for (size_t i = 0; i < d->n_actions[s]; i++) {
            free(d->actions[s][i].target);
            free(d->actions[s][i].text);
        }
    }
    json_decref(d->json);
    memset(d, 0, sizeof(*d));
}
