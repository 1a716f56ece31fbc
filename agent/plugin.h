/*
 * plugin: what collectors and exporters share with the core — lifecycle states, the
 * environment every instance sees, and delivery acknowledgements.
 *
 * Contract
 * - struct plugin_env is filled by the agent from the configuration before any plugin is
 *   created and stays constant (read-only) while plugins run, on either loop.
 * - A delivery ack travels from an exporter (export loop) back to the source collector
 *   (collect loop) through the agent's ack ring; it names a run of records from one
 *   source as a contiguous range of cookies: records == cookie_last - cookie_first + 1.
 *   A source that numbers its records 1, 2, 3, ... can therefore tell exactly which
 *   records an ack covers, even when they were spread over several batches or streams. Acks of
 * different batches arrive in the order batches complete, not the order records were emitted: a
 * source that checkpoints tracks which records are done and advances over the completed prefix.
 */
#ifndef OSPREY_PLUGIN_H
#define OSPREY_PLUGIN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/config.h"
#include "agent/instance_meta.h"
#include "agent/record.h"
#include "agent/selfstats.h"

#define PLUGIN_NAME_MAX 64

enum plugin_state {
    PLUGIN_CREATED = 0,
    PLUGIN_INITED,
    PLUGIN_STARTED,
    PLUGIN_STOPPING,
    PLUGIN_STOPPED,
};

/* One entry of metrics.aggregation_dimensions: a rollup to exactly these dimensions. */
struct metric_dim_set {
    size_t n;
    const char *names[METRIC_MAX_DIMS];
};

struct plugin_env {
    const char *hostname;
    bool omit_hostname;
    const char *proc_root; /* "/proc" unless osprey.proc_root says otherwise */
    const char *state_dir; /* checkpoints, spool, alarm state */
    const char *metrics_namespace;
    uint64_t metrics_interval_ns; /* agent.metrics_collection_interval */
    const char *region;
    /* metrics.append_dimensions: values may be "${aws:...}" placeholders, resolved through
     * `instance` when a point is built (unknown ones are left out). */
    const struct metric_dim *append_dims;
    size_t n_append_dims;
    const struct metric_dim_set *aggregation; /* metrics.aggregation_dimensions */
    size_t n_aggregation;
    const struct instance_meta *instance; /* set by the agent before start; NULL = unknown */
    /* No region in the configuration or the environment: AWS sinks take it from EC2
     * instance metadata at start (the agent fills `region` before they start), as the
     * CloudWatch agent does; configuration checks do not require one then. */
    bool region_from_instance;
    /* logs.log_stream_name as written (placeholders not expanded, see
     * collectors/log_names.h): the stream of collect_list entries that name none. NULL =
     * not configured (the CloudWatch agent's default, "{instance_id}"). */
    const char *default_log_stream_name;
};

enum delivery_outcome {
    DELIVERY_ACCEPTED = 0, /* the destination acknowledged the records */
    DELIVERY_REJECTED,     /* the destination refused them; retrying cannot help */
    DELIVERY_GAVE_UP,      /* retries exhausted or shutdown deadline passed */
};

struct delivery_ack {
    uint16_t source;   /* collector id */
    uint16_t exporter; /* exporter id */
    uint32_t records;
    uint64_t cookie_first;
    uint64_t cookie_last;
    enum delivery_outcome outcome;
};

/* Per-instance configuration context, valid only while the core binds and inits it. */
struct plugin_cfg {
    const struct cfg_doc *doc;
    const char *path;
    struct cfg_errors *errs;
};

/* Report a configuration error at `key` of the instance being configured (its key's
 * FILE:LINE:COL), or, outside configuration time, log it once under `component`. */
void plugin_cfg_verror(const struct plugin_cfg *cfg, const char *component, const char *key,
                       const char *fmt, va_list ap);

#endif
