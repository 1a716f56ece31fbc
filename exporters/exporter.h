/*
 * exporter: the consumer plugin contract.
 *
 * Contract
 * - An exporter type is a const struct of callbacks listed in agent/registry.c; instances
 *   are configured under "osprey/sinks/<type name>" (local sinks) or by the service
 *   sections of the CloudWatch agent configuration. The core allocates the instance and
 *   a zeroed ctx, binds the type's fields and the common key `kinds`, then calls init.
 * - Everything runs on the export loop. An exporter never knows a collector: it sees
 *   decoded records (struct record_view, valid only during the add call) and reports
 *   what happened to them.
 * - add: take one record. 0 = taken (buffered or written); -EAGAIN = full, offer it again
 *   after the exporter calls exporter_ready() (the core stops draining the ring, which is
 *   how backpressure reaches the sources); any other negative value = not taken and
 *   already counted under a drop reason by the exporter (the core then reports the record
 *   to its source as DELIVERY_REJECTED).
 * - flush: seal and send what is buffered (flush timer, shutdown). idle: true when
 *   nothing is buffered or in flight (shutdown waits for it up to the deadline).
 * - Outcomes: for records that carry a cookie, the exporter records them with
 *   delivery_runs_add() as it takes them and calls exporter_report_runs() once their
 *   batch's fate is known (accepted / rejected / gave up). Every outcome is counted.
 * - Lifecycle and handle accounting as for collectors (collector.h): stop begins closing
 *   handles, exporter_handle_closed from each close callback, destroy NULL-safe.
 */
#ifndef OSPREY_EXPORTER_H
#define OSPREY_EXPORTER_H

#include <uv.h>

#include "agent/plugin.h"
#include "agent/record.h"

struct exporter;
struct pipeline;

struct exporter_type {
    const char *name;
    const char *help;
    unsigned kinds; /* record kinds it can take; the instance's `kinds` key narrows it */
    const struct cfg_field *fields;
    size_t ctx_size;
    /* Optional second key table (shared by a family of exporters, e.g. the AWS ones),
     * bound at ctx + extra_offset. */
    const struct cfg_field *extra_fields;
    size_t extra_offset;

    int (*init)(struct exporter *e);
    int (*start)(struct exporter *e, uv_loop_t *loop);
    int (*add)(struct exporter *e, const struct record_view *rec);
    int (*flush)(struct exporter *e);
    bool (*idle)(struct exporter *e);
    void (*stop)(struct exporter *e);
    void (*destroy)(struct exporter *e);
};

/* Runs of acknowledged-to-be records, grouped by source, in arrival order. */
#define DELIVERY_RUNS_MAX 256

struct delivery_runs {
    struct delivery_ack runs[DELIVERY_RUNS_MAX];
    size_t n;
};

struct exporter_common {
    struct cfg_strings kinds; /* "metrics", "logs", "traces" */
};

struct exporter {
    const struct exporter_type *type;
    void *ctx;
    char name[PLUGIN_NAME_MAX];
    uint16_t id;
    enum plugin_state state;
    unsigned open_handles;
    unsigned kinds;
    const struct plugin_env *env;
    struct pipeline *pipeline;
    struct exporter_common common;
    struct selfstats stats;
    bool draining;         /* shutdown: the next flush is the last, send everything */
    struct plugin_cfg cfg; /* only during bind and init */
    void (*on_stopped)(struct exporter *e, void *data);
    void *on_stopped_data;
};

/* Core side. */
int exporter_create(const struct exporter_type *type, const char *name, uint16_t id,
                    const struct plugin_env *env, const struct plugin_cfg *cfg,
                    const json_t *config, struct exporter **ret);
int exporter_start(struct exporter *e, uv_loop_t *loop, struct pipeline *pipeline);
int exporter_add(struct exporter *e, const struct record_view *rec);
int exporter_flush(struct exporter *e);
bool exporter_idle(struct exporter *e);
void exporter_stop(struct exporter *e, void (*on_stopped)(struct exporter *, void *), void *data);
void exporter_destroy(struct exporter *e);
bool exporter_accepts(const struct exporter *e, enum record_kind kind);
/* The keys every sink accepts (`kinds`), for the configuration reference. */
const struct cfg_field *exporter_common_key_fields(void);

/* Plugin side. */
void exporter_config_error(struct exporter *e, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void exporter_handle_opened(struct exporter *e);
void exporter_handle_closed(struct exporter *e);
/* The exporter can take records again after returning -EAGAIN. */
void exporter_ready(struct exporter *e);

void delivery_runs_init(struct delivery_runs *runs);
/* Would delivery_runs_add() take this record (false: no run slot left for it)? */
bool delivery_runs_has_room(const struct delivery_runs *runs, const struct record_hdr *hdr);
/* Remember a taken record; -ENOSPC when DELIVERY_RUNS_MAX distinct runs are open (the
 * caller seals its batch first). Records without a cookie are not tracked. */
int delivery_runs_add(struct delivery_runs *runs, const struct record_hdr *hdr);
/* Per-record outcomes, walked in arrival order: consecutive records of one source with
 * one outcome become one ack. Start with a zeroed struct delivery_ack, add every record,
 * then end. Records without a cookie are skipped. */
void delivery_stretch_add(struct exporter *e, struct delivery_ack *cur, uint16_t source,
                          uint64_t cookie, enum delivery_outcome outcome);
void delivery_stretch_end(struct exporter *e, struct delivery_ack *cur);

/* Report every run with `outcome` and empty the set. */
void exporter_report_runs(struct exporter *e, struct delivery_runs *runs,
                          enum delivery_outcome outcome);

#endif
