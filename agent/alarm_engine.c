#include "agent/alarm_engine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INITIAL_REASON "Unchecked: Initial alarm creation"

void alarm_format_time(int64_t ts_ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ts_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, cap, "?");
        return;
    }
    char date[32];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%.19s.%03d+0000", date, (int)(ts_ms % 1000));
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- setup ------------------------------------------------------------------------ */

static int find_index(const struct alarm_engine *e, const char *name, size_t *ret)
{
    for (size_t i = 0; i < e->n_alarms; i++) {
        if (e->alarms[i].def.name && strcmp(e->alarms[i].def.name, name) == 0) {
            *ret = i;
            return 0;
        }
    }
    return -ENOENT;
}

struct alarm_entry *alarm_engine_find(struct alarm_engine *e, const char *name)
{
    size_t i;
    return find_index(e, name, &i) == 0 ? &e->alarms[i] : NULL;
}

static int resolve_rule(struct alarm_engine *e, struct alarm_rule_node *n, const char *owner,
                        struct cfg_errors *errs)
{
    if (!n)
        return 0;
    int r = resolve_rule(e, n->left, owner, errs);
    int r2 = resolve_rule(e, n->right, owner, errs);
    if (n->op == ALARM_RULE_STATE && find_index(e, n->alarm, &n->target) != 0) {
        cfg_errors_add(errs, "alarm '%s': 'AlarmRule' names alarm '%s', which is not defined",
                       owner, n->alarm);
        return -EINVAL;
    }
    return r ? r : r2;
}

/* Composite alarms may name composite alarms; a cycle would never settle. */
static bool rule_reaches(const struct alarm_engine *e, const struct alarm_rule_node *n,
                         size_t target, unsigned depth)
{
    if (!n || depth > e->n_alarms)
        return depth > e->n_alarms;
    if (n->op == ALARM_RULE_STATE) {
        if (n->target == target)
            return true;
        const struct alarm_def *d = &e->alarms[n->target].def;
        if (d->composite && rule_reaches(e, d->expr, target, depth + 1))
            return true;
    }
    return rule_reaches(e, n->left, target, depth) || rule_reaches(e, n->right, target, depth);
}

int alarm_engine_init(struct alarm_engine *e, const json_t *defs, const char *where,
                      struct cfg_errors *errs)
{
    memset(e, 0, sizeof(*e));
    e->grace_ms = ALARM_DEFAULT_GRACE;
    if (!json_is_array(defs)) {
        cfg_errors_add(errs, "%s: 'alarms' must be an array of alarm definitions", where);
        return -EINVAL;
    }
    size_t n = json_array_size(defs);
    e->alarms = calloc(n ? n : 1, sizeof(*e->alarms));
    if (!e->alarms)
        return -ENOMEM;
    int ret = 0;
    for (size_t i = 0; i < n; i++) {
        char at[256];
        snprintf(at, sizeof(at), "%s[%zu]", where, i);
        struct alarm_entry *a = &e->alarms[e->n_alarms];
        int r = alarm_def_parse(json_array_get(defs, i), at, &a->def, errs);
        if (r == -ENOMEM) {
            alarm_engine_release(e);
            return r;
        }
        if (r != 0) {
            ret = -EINVAL;
            continue;
        }
        if (alarm_engine_find(e, a->def.name)) {
            cfg_errors_add(errs, "%s: alarm '%s' is defined twice", at, a->def.name);
            alarm_def_release(&a->def);
            ret = -EINVAL;
            continue;
        }
        a->state = ALARM_STATE_INSUFFICIENT_DATA;
        snprintf(a->reason, sizeof(a->reason), "%s", INITIAL_REASON);
        a->evaluated_through = INT64_MIN;
        if (!a->def.composite) {
            a->n_buckets = a->def.rule.evaluation_periods + 4;
            a->buckets = calloc(a->n_buckets, sizeof(*a->buckets));
        }
        a->history = calloc(ALARM_HISTORY_MAX, sizeof(*a->history));
        if ((!a->def.composite && !a->buckets) || !a->history) {
            e->n_alarms++;
            alarm_engine_release(e);
            return -ENOMEM;
        }
        for (size_t b = 0; b < a->n_buckets; b++)
            a->buckets[b].period_index = -1;
        e->n_alarms++;
    }
    for (size_t i = 0; i < e->n_alarms; i++) {
        struct alarm_entry *a = &e->alarms[i];
        if (!a->def.composite)
            continue;
        if (resolve_rule(e, a->def.expr, a->def.name, errs) != 0) {
            ret = -EINVAL;
        } else if (rule_reaches(e, a->def.expr, i, 0)) {
            cfg_errors_add(errs,
                           "alarm '%s': 'AlarmRule' depends on itself (a cycle of composite "
                           "alarms)",
                           a->def.name);
            ret = -EINVAL;
        }
    }
    if (ret != 0)
        alarm_engine_release(e);
    return ret;
}

void alarm_engine_release(struct alarm_engine *e)
{
    if (!e || !e->alarms)
        return;
    for (size_t i = 0; i < e->n_alarms; i++) {
        struct alarm_entry *a = &e->alarms[i];
        alarm_def_release(&a->def);
        for (size_t b = 0; a->buckets && b < a->n_buckets; b++)
            free(a->buckets[b].acc.values);
        free(a->buckets);
        free(a->history);
        json_decref(a->reason_data);
    }
    free(e->alarms);
    memset(e, 0, sizeof(*e));
}

/* ---- data ------------------------------------------------------------------------- */

static bool matches(const struct alarm_def *d, const struct metric_point *p)
{
    if (d->composite || p->n_dims != d->n_dims || strcmp(d->metric_name, p->name) != 0 ||
        strcmp(d->namespace_, p->namespace_) != 0)
        return false;
    for (size_t i = 0; i < d->n_dims; i++) {
        bool found = false;
        for (size_t j = 0; j < p->n_dims && !found; j++)
            found = strcmp(d->dims[i].name, p->dims[j].name) == 0 &&
                    strcmp(d->dims[i].value, p->dims[j].value) == 0;
        if (!found)
            return false;
    }
    return true;
}

static bool wants_values(const struct alarm_def *d)
{
    return d->rule.stat.kind == ALARM_STAT_PERCENTILE ||
           d->rule.stat.kind == ALARM_STAT_TRIMMED_MEAN;
}

static struct alarm_bucket *bucket_for(struct alarm_entry *a, int64_t ts_ms)
{
    int64_t k = floor_div(ts_ms, (int64_t)a->def.period_s * 1000);
    /* Already evaluated past the range it could still count in: too late. */
    if (a->evaluated_through != INT64_MIN &&
        k <= a->evaluated_through - (int64_t)a->def.rule.evaluation_periods - 2) {
        a->late_points++;
        return NULL;
    }
    struct alarm_bucket *b = &a->buckets[(uint64_t)k % a->n_buckets];
    if (b->period_index != k) {
        if (b->period_index > k) {
            a->late_points++; /* its slot holds a newer period */
            return NULL;
        }
        b->period_index = k;
        b->acc.count = b->acc.sum = 0;
        b->acc.min = INFINITY;
        b->acc.max = -INFINITY;
        b->acc.n_values = 0;
    }
    return b;
}

static void bucket_add_value(struct alarm_entry *a, struct alarm_bucket *b, double v)
{
    if (!wants_values(&a->def) || b->acc.n_values >= ALARM_VALUES_MAX)
        return; /* past the cap the percentile is of the first ALARM_VALUES_MAX samples */
    if (b->acc.n_values == b->values_cap) {
        size_t cap = b->values_cap ? b->values_cap * 2 : 64;
        double *nv = realloc(b->acc.values, cap * sizeof(double));
        if (!nv)
            return;
        b->acc.values = nv;
        b->values_cap = cap;
    }
    b->acc.values[b->acc.n_values++] = v;
}

void alarm_engine_add_sample(struct alarm_engine *e, size_t alarm, double value, int64_t ts_ms)
{
    struct alarm_entry *a = &e->alarms[alarm];
    struct alarm_bucket *b = a->def.composite ? NULL : bucket_for(a, ts_ms);
    if (!b || !isfinite(value))
        return;
    b->acc.count += 1;
    b->acc.sum += value;
    b->acc.min = fmin(b->acc.min, value);
    b->acc.max = fmax(b->acc.max, value);
    bucket_add_value(a, b, value);
}

void alarm_engine_add_point(struct alarm_engine *e, const struct metric_point *p, int64_t ts_ms)
{
    for (size_t i = 0; i < e->n_alarms; i++) {
        struct alarm_entry *a = &e->alarms[i];
        if (!matches(&a->def, p))
            continue;
        e->points_matched++;
        if (p->value_kind == METRIC_VALUE_SINGLE) {
            alarm_engine_add_sample(e, i, p->value, ts_ms);
            continue;
        }
        /* A StatisticSet: count/sum/min/max merge; no raw values for percentiles. */
        struct alarm_bucket *b = bucket_for(a, ts_ms);
        if (!b || !(p->count > 0))
            continue;
        b->acc.count += p->count;
        b->acc.sum += p->sum;
        b->acc.min = fmin(b->acc.min, p->min);
        b->acc.max = fmax(b->acc.max, p->max);
    }
}

/* ---- evaluation ------------------------------------------------------------------- */

static void record_change(struct alarm_entry *a, enum alarm_state old_state, int64_t now_ms)
{
    struct alarm_history_entry *h = &a->history[a->history_next];
    h->ts_ms = now_ms;
    h->old_state = old_state;
    h->new_state = a->state;
    snprintf(h->reason, sizeof(h->reason), "%s", a->reason);
    a->history_next = (a->history_next + 1) % ALARM_HISTORY_MAX;
    if (a->history_len < ALARM_HISTORY_MAX)
        a->history_len++;
    a->since_ms = now_ms;
}

static json_t *reason_data(const struct alarm_entry *a, const struct alarm_point *range,
                           const struct alarm_result *res, int64_t now_ms, int64_t start_ms)
{
    char q[40], s[40];
    alarm_format_time(now_ms, q, sizeof(q));
    alarm_format_time(start_ms, s, sizeof(s));
    json_t *recent = json_array(), *evaluated = json_array();
    for (size_t i = 0; i < res->n_evaluated; i++) {
        const struct alarm_point *p = &range[res->evaluated[i]];
        char t[40];
        alarm_format_time(p->ts_s * 1000, t, sizeof(t));
        json_array_append_new(recent, json_real(p->value));
        json_array_append_new(evaluated, json_pack("{s:s, s:f, s:f}", "timestamp", t, "sampleCount",
                                                   p->sample_count, "value", p->value));
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:o, s:f, s:o}", "version", "1.0", "queryDate", q,
                     "startDate", s, "statistic", a->def.statistic_text, "period",
                     (json_int_t)a->def.period_s, "recentDatapoints", recent, "threshold",
                     a->def.rule.threshold, "evaluatedDatapoints", evaluated);
}

static bool evaluate_metric_alarm(struct alarm_entry *a, int64_t now_ms)
{
    int64_t period_ms = (int64_t)a->def.period_s * 1000;
    /* The newest period that ended at least grace before now. */
    int64_t newest = floor_div(now_ms - ALARM_DEFAULT_GRACE, period_ms) - 1;
    if (a->evaluated_through != INT64_MIN && newest <= a->evaluated_through)
        return false;
    a->evaluated_through = newest;

    unsigned n = a->def.rule.evaluation_periods;
    size_t len = n + 2;
    struct alarm_point range[ALARM_EVAL_MAX_RANGE];
    for (size_t i = 0; i < len; i++) {
        int64_t k = newest - (int64_t)(len - 1 - i);
        struct alarm_bucket *b = &a->buckets[(uint64_t)k % a->n_buckets];
        range[i] = (struct alarm_point){.ts_s = k * (int64_t)a->def.period_s};
        if (b->period_index == k && b->acc.count > 0) {
            range[i].present = alarm_stat_value(&a->def.rule.stat, &b->acc, &range[i].value);
            range[i].sample_count = b->acc.count;
        }
    }
    struct alarm_result res;
    alarm_evaluate(&a->def.rule, range, len, a->state, &res);
    if (res.kept || res.state == a->state)
        return false;
    enum alarm_state old = a->state;
    a->state = res.state;
    alarm_reason_format(&a->def.rule, range, &res, a->reason, sizeof(a->reason));
    json_decref(a->reason_data);
    a->reason_data = reason_data(a, range, &res, now_ms, range[0].ts_s * 1000);
    record_change(a, old, now_ms);
    return true;
}

static enum alarm_state state_of(void *data, size_t index)
{
    const struct alarm_engine *e = data;
    return e->alarms[index].state;
}

/* Writes the rule with every leaf's current state, e.g. "ALARM(cpu) [ALARM] OR ...". */
static void describe_rule(const struct alarm_engine *e, const struct alarm_rule_node *n, char *buf,
                          size_t cap, size_t *len)
{
    if (*len + 1 >= cap)
        return;
    int w = 0;
    switch (n->op) {
    case ALARM_RULE_STATE:
        w = snprintf(buf + *len, cap - *len, "%s(%s) [%s]", alarm_state_name(n->state), n->alarm,
                     alarm_state_name(e->alarms[n->target].state));
        break;
    case ALARM_RULE_CONST:
        w = snprintf(buf + *len, cap - *len, "%s", n->value ? "TRUE" : "FALSE");
        break;
    case ALARM_RULE_NOT:
        w = snprintf(buf + *len, cap - *len, "NOT (");
        *len += w > 0 ? (size_t)w : 0;
        describe_rule(e, n->left, buf, cap, len);
        w = snprintf(buf + *len, cap - *len, ")");
        break;
    case ALARM_RULE_AND:
    case ALARM_RULE_OR:
        w = snprintf(buf + *len, cap - *len, "(");
        *len += w > 0 ? (size_t)w : 0;
        describe_rule(e, n->left, buf, cap, len);
        w = snprintf(buf + *len, cap - *len, n->op == ALARM_RULE_AND ? " AND " : " OR ");
        *len += w > 0 ? (size_t)w : 0;
        describe_rule(e, n->right, buf, cap, len);
        w = snprintf(buf + *len, cap - *len, ")");
        break;
    }
    if (w > 0)
        *len = *len + (size_t)w < cap ? *len + (size_t)w : cap - 1;
}

void alarm_engine_evaluate(struct alarm_engine *e, int64_t now_ms, alarm_change_cb on_change,
                           void *data)
{
    for (size_t i = 0; i < e->n_alarms; i++) {
        struct alarm_entry *a = &e->alarms[i];
        if (a->def.composite)
            continue;
        enum alarm_state old = a->state;
        if (evaluate_metric_alarm(a, now_ms) && on_change)
            on_change(data, a, old, now_ms);
    }
    /* Composites settle in a few rounds when they name composites (no cycles: init). */
    for (unsigned round = 0; round <= e->n_alarms; round++) {
        bool changed = false;
        for (size_t i = 0; i < e->n_alarms; i++) {
            struct alarm_entry *a = &e->alarms[i];
            if (!a->def.composite)
                continue;
            enum alarm_state next =
                alarm_rule_eval(a->def.expr, state_of, e) ? ALARM_STATE_ALARM : ALARM_STATE_OK;
            if (next == a->state)
                continue;
            enum alarm_state old = a->state;
            a->state = next;
            size_t len =
                (size_t)snprintf(a->reason, sizeof(a->reason),
                                 "AlarmRule is %s: ", next == ALARM_STATE_ALARM ? "TRUE" : "FALSE");
            describe_rule(e, a->def.expr, a->reason, sizeof(a->reason), &len);
            json_decref(a->reason_data);
            a->reason_data = NULL;
            record_change(a, old, now_ms);
            changed = true;
            if (on_change)
                on_change(data, a, old, now_ms);
        }
        if (!changed)
            break;
    }
}

int64_t alarm_engine_next_due(const struct alarm_engine *e, int64_t now_ms)
{
    int64_t due = INT64_MAX;
    for (size_t i = 0; i < e->n_alarms; i++) {
        const struct alarm_entry *a = &e->alarms[i];
        if (a->def.composite)
            continue;
        int64_t period_ms = (int64_t)a->def.period_s * 1000;
        int64_t next_end = (floor_div(now_ms - ALARM_DEFAULT_GRACE, period_ms) + 1) * period_ms;
        int64_t t = next_end + ALARM_DEFAULT_GRACE;
        if (t < due)
            due = t;
    }
    return due;
}

/* ---- JSON ------------------------------------------------------------------------- */

static json_t *dims_json(const struct alarm_def *d, const char *name_key, const char *value_key)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < d->n_dims; i++)
        json_array_append_new(
            arr, json_pack("{s:s, s:s}", name_key, d->dims[i].name, value_key, d->dims[i].value));
    return arr;
}

static json_t *history_json(const struct alarm_entry *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < a->history_len; i++) {
        size_t at = (a->history_next + ALARM_HISTORY_MAX - a->history_len + i) % ALARM_HISTORY_MAX;
        const struct alarm_history_entry *h = &a->history[at];
        char t[40], summary[128];
        alarm_format_time(h->ts_ms, t, sizeof(t));
        snprintf(summary, sizeof(summary), "Alarm updated from %s to %s",
                 alarm_state_name(h->old_state), alarm_state_name(h->new_state));
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "Timestamp", t,
                                             "HistorySummary", summary, "OldState",
                                             alarm_state_name(h->old_state), "NewState",
                                             alarm_state_name(h->new_state), "StateReason",
                                             h->reason, "TimestampMs", (json_int_t)h->ts_ms));
    }
    return arr;
}

json_t *alarm_engine_list_json(const struct alarm_engine *e, bool with_history)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < e->n_alarms; i++) {
        const struct alarm_entry *a = &e->alarms[i];
        char since[40] = "";
        if (a->since_ms)
            alarm_format_time(a->since_ms, since, sizeof(since));
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "AlarmName", a->def.name, "AlarmType",
                      a->def.composite ? "CompositeAlarm" : "MetricAlarm", "StateValue",
                      alarm_state_name(a->state), "StateReason", a->reason, "StateUpdatedTimestamp",
                      since, "StateUpdatedTimestampMs", (json_int_t)a->since_ms);
        if (a->reason_data) {
            char *rd = json_dumps(a->reason_data, JSON_COMPACT);
            if (rd)
                json_object_set_new(o, "StateReasonData", json_string(rd));
            free(rd);
        }
        if (with_history)
            json_object_set_new(o, "History", history_json(a));
        json_array_append_new(arr, o);
    }
    return json_pack("{s:o}", "alarms", arr);
}

json_t *alarm_notification_json(const struct alarm_entry *a, enum alarm_state old_state,
                                int64_t now_ms, const char *region, const char *account)
{
    const struct alarm_def *d = &a->def;
    char t[40], arn[512];
    alarm_format_time(now_ms, t, sizeof(t));
    snprintf(arn, sizeof(arn), "arn:aws:cloudwatch:%s:%s:alarm:%s", region ? region : "local",
             account ? account : "000000000000", d->name);
    json_t *acts[3];
    for (int s = 0; s < 3; s++) {
        acts[s] = json_array();
        for (size_t i = 0; i < d->n_actions[s]; i++)
            json_array_append_new(acts[s], json_string(d->actions[s][i].text));
    }
    json_t *o = json_pack(
        "{s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "AlarmName", d->name,
        "AlarmDescription", d->description ? json_string(d->description) : json_null(),
        "AWSAccountId", account ? account : "000000000000", "AlarmConfigurationUpdatedTimestamp", t,
        "NewStateValue", alarm_state_name(a->state), "NewStateReason", a->reason, "StateChangeTime",
        t, "Region", region ? region : "local", "AlarmArn", arn, "OldStateValue",
        alarm_state_name(old_state), "OKActions", acts[ALARM_STATE_OK], "AlarmActions",
        acts[ALARM_STATE_ALARM], "InsufficientDataActions", acts[ALARM_STATE_INSUFFICIENT_DATA]);
    if (!o)
        return NULL;
    if (d->composite) {
        json_object_set_new(o, "AlarmRule", json_string(d->rule_text));
        return o;
    }
    char stat_upper[64];
    size_t k = 0;
    for (const char *s = d->statistic_text; *s && k + 1 < sizeof(stat_upper); s++)
        stat_upper[k++] = (char)((*s >= 'a' && *s <= 'z') ? *s - 32 : *s);
    stat_upper[k] = '\0';
    json_t *trigger = json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:o, s:i, s:i, s:i, s:s, s:f, s:s, s:s}", "MetricName",
        d->metric_name, "Namespace", d->namespace_, "StatisticType",
        d->rule.stat.extended ? "ExtendedStatistic" : "Statistic", "Statistic",
        d->rule.stat.extended ? d->statistic_text : stat_upper, "Unit", json_null(), "Dimensions",
        dims_json(d, "name", "value"), "Period", (json_int_t)d->period_s, "EvaluationPeriods",
        (json_int_t)d->rule.evaluation_periods, "DatapointsToAlarm",
        (json_int_t)d->rule.datapoints_to_alarm, "ComparisonOperator", alarm_cmp_name(d->rule.cmp),
        "Threshold", d->rule.threshold, "TreatMissingData", alarm_missing_name(d->rule.missing),
        "EvaluateLowSampleCountPercentile", d->rule.low_sample_ignore ? "ignore" : "");
    json_object_set_new(o, "Trigger", trigger ? trigger : json_null());
    return o;
}

/* ---- persistence ------------------------------------------------------------------ */

int alarm_engine_save(const struct alarm_engine *e, const char *path)
{
    json_t *doc = alarm_engine_list_json(e, true);
    if (!doc)
        return -ENOMEM;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        json_decref(doc);
        return -errno;
    }
    char *text = json_dumps(doc, JSON_INDENT(1));
    json_decref(doc);
    int r = 0;
    if (!text) {
        r = -ENOMEM;
    } else {
        size_t len = strlen(text), off = 0;
        while (off < len && r == 0) {
            ssize_t w = write(fd, text + off, len - off);
            if (w < 0)
                r = -errno;
            else
                off += (size_t)w;
        }
        if (r == 0 && fsync(fd) != 0)
            r = -errno;
    }
    free(text);
    if (close(fd) != 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) != 0)
        r = -errno;
    if (r != 0)
        unlink(tmp);
    return r;
}

static const char *string_or_empty(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

int alarm_engine_load(struct alarm_engine *e, const char *path)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc)
        return access(path, F_OK) == 0 ? -EBADMSG : -ENOENT;
    json_t *arr = json_object_get(doc, "alarms");
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        const char *name = json_string_value(json_object_get(o, "AlarmName"));
        struct alarm_entry *a = name ? alarm_engine_find(e, name) : NULL;
        enum alarm_state st;
        if (!a || alarm_state_parse(string_or_empty(o, "StateValue"), &st) != 0)
            continue;
        a->state = st;
        const char *reason = json_string_value(json_object_get(o, "StateReason"));
        snprintf(a->reason, sizeof(a->reason), "%s", reason ? reason : "");
        a->since_ms = json_integer_value(json_object_get(o, "StateUpdatedTimestampMs"));
        const char *rd = json_string_value(json_object_get(o, "StateReasonData"));
        json_decref(a->reason_data);
        a->reason_data = rd ? json_loads(rd, 0, NULL) : NULL;
        size_t j;
        json_t *h;
        a->history_len = a->history_next = 0;
        json_array_foreach(json_object_get(o, "History"), j, h)
        {
            struct alarm_history_entry *he = &a->history[a->history_next];
            if (alarm_state_parse(string_or_empty(h, "OldState"), &he->old_state) != 0 ||
                alarm_state_parse(string_or_empty(h, "NewState"), &he->new_state) != 0)
                continue;
            he->ts_ms = json_integer_value(json_object_get(h, "TimestampMs"));
            const char *hr = json_string_value(json_object_get(h, "StateReason"));
            snprintf(he->reason, sizeof(he->reason), "%s", hr ? hr : "");
            a->history_next = (a->history_next + 1) % ALARM_HISTORY_MAX;
            if (a->history_len < ALARM_HISTORY_MAX)
                a->history_len++;
        }
    }
    json_decref(doc);
    return 0;
}
