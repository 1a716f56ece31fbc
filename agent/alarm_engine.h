/*
 * alarm_engine: the alarms Osprey evaluates on the host — their datapoints per period,
 * their state, reasons and bounded history, composite alarms, persistence, and the JSON
 * that `osprey alarms list`, the notifications and the CloudFormation export are made of.
 *
 * Contract
 * - One engine per agent (owned by the `alarms` exporter on the export loop) or per
 *   backtest (`osprey alarms test`); not thread-safe: one thread uses it.
 * - alarm_engine_init() parses every definition (alarm_def.h), rejects duplicate names,
 *   resolves composite rules (unknown alarm names and cycles are errors) and starts every
 *   alarm in INSUFFICIENT_DATA ("Unchecked: Initial alarm creation"). Errors go to `errs`.
 * - alarm_engine_add_point() files a metric point under every alarm whose namespace,
 *   metric name and dimensions (the exact set, as CloudWatch matches) are the point's, in
 *   the period its timestamp falls in. Points older than the alarm's range are ignored
 *   (counted in late_points).
 * - Periods are aligned to multiples of Period since the epoch. alarm_engine_evaluate(now)
 *   evaluates every metric alarm whose newest complete period (ended at least grace_ms
 *   before `now`) has not been evaluated yet, over the range of N + 2 periods ending there,
 *   then every composite alarm; each state change is recorded in the history and handed to
 *   `on_change` (the caller runs actions). The same inputs always give the same outputs.
 * - Persistence: alarm_engine_save() writes the states and histories as JSON to a file
 *   (write to a temporary, fsync, rename); alarm_engine_load() restores the alarms that
 *   still exist by name (a changed definition keeps its state; removed alarms are
 *   dropped). Both return 0 or -errno.
 */
#ifndef OSPREY_ALARM_ENGINE_H
#define OSPREY_ALARM_ENGINE_H

#include <jansson.h>
#include <stdint.h>

#include "agent/alarm_def.h"
#include "agent/record.h"

#define ALARM_HISTORY_MAX   100
#define ALARM_VALUES_MAX    10000 /* raw values kept per period for percentiles */
#define ALARM_REASON_MAX    1024
#define ALARM_DEFAULT_GRACE 2000 /* ms after a period's end before it is evaluated */

struct alarm_history_entry {
    int64_t ts_ms;
    enum alarm_state old_state, new_state;
    char reason[ALARM_REASON_MAX];
};

struct alarm_bucket {
    int64_t period_index; /* start / Period; -1 = empty */
    struct alarm_period acc;
    size_t values_cap;
};

struct alarm_entry {
    struct alarm_def def;
    enum alarm_state state;
    char reason[ALARM_REASON_MAX];
    json_t *reason_data; /* StateReasonData, or NULL */
    int64_t since_ms;
    int64_t evaluated_through; /* period index last evaluated; INT64_MIN = never */
    struct alarm_bucket *buckets;
    size_t n_buckets;
    struct alarm_history_entry *history; /* ring of ALARM_HISTORY_MAX */
    size_t history_len, history_next;
    uint64_t late_points;
};

struct alarm_engine {
    struct alarm_entry *alarms;
    size_t n_alarms;
    int64_t grace_ms;
    uint64_t points_matched;
};

typedef void (*alarm_change_cb)(void *data, const struct alarm_entry *a, enum alarm_state old_state,
                                int64_t now_ms);

int alarm_engine_init(struct alarm_engine *e, const json_t *defs, const char *where,
                      struct cfg_errors *errs);
void alarm_engine_release(struct alarm_engine *e);

void alarm_engine_add_point(struct alarm_engine *e, const struct metric_point *p, int64_t ts_ms);
/* Add one sample straight to an alarm (the backtest's datapoints). */
void alarm_engine_add_sample(struct alarm_engine *e, size_t alarm, double value, int64_t ts_ms);
void alarm_engine_evaluate(struct alarm_engine *e, int64_t now_ms, alarm_change_cb on_change,
                           void *data);
/* When the next evaluation is due (ms), for the caller's timer. */
int64_t alarm_engine_next_due(const struct alarm_engine *e, int64_t now_ms);

struct alarm_entry *alarm_engine_find(struct alarm_engine *e, const char *name);

int alarm_engine_save(const struct alarm_engine *e, const char *path);
int alarm_engine_load(struct alarm_engine *e, const char *path);

/* {"alarms": [{"AlarmName", "StateValue", "StateReason", "StateUpdatedTimestamp", ...}]} —
 * the same JSON `osprey alarms list --json` prints and the local endpoint serves. */
json_t *alarm_engine_list_json(const struct alarm_engine *e, bool with_history);
/* The SNS notification body CloudWatch sends for a transition. */
json_t *alarm_notification_json(const struct alarm_entry *a, enum alarm_state old_state,
                                int64_t now_ms, const char *region, const char *account);
/* "2025-02-02T12:06:35.472+0000" */
void alarm_format_time(int64_t ts_ms, char *buf, size_t cap);

#endif
