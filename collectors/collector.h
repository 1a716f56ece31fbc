/*
 * collector: the producer plugin contract and the emit API.
 *
 * Contract
 * - A collector type is a const struct of callbacks listed in agent/registry.c. The core
 *   allocates the instance and a zeroed ctx of ctx_size, binds the type's field table
 *   (plus the common metric keys when metric_common is set) from the config object at
 *   config_path, then calls init. A type whose config_is_list is set gets one instance
 *   per element of the array at config_path.
 * - Lifecycle, enforced by the core: CREATED -> init -> INITED -> start -> STARTED ->
 *   stop -> STOPPING -> (last handle closed) STOPPED -> destroy. destroy may be called
 *   from any state and must accept a half-built ctx. Optional callbacks may be NULL;
 *   the core calls them through collector_* wrappers that supply no-op defaults.
 * - init validates and allocates, with no I/O; errors go through collector_config_error
 *   so they carry FILE:LINE:COL. start opens handles on the collect loop. Every handle a
 *   collector opens is counted with collector_handle_opened and reported closed with
 *   collector_handle_closed from its close callback.
 * - Threads: everything here runs on the collect loop, except nothing: collectors never
 *   see the export loop. A collector never knows an exporter.
 * - Emit: collector_emit_* encode one record straight into the ring. They return 0,
 *   -ENOSPC when the ring is full (the caller applies its policy: drop and count with
 *   DROP_RING_FULL, or pause and call collector_request_space to be resumed through
 *   on_space), or -EINVAL for a record outside the model's limits (counted as
 *   DROP_INVALID by the emit call itself). They never block and never allocate.
 */
#ifndef OSPREY_COLLECTOR_H
#define OSPREY_COLLECTOR_H

#include <stdio.h>
#include <uv.h>

#include "agent/plugin.h"
#include "agent/record.h"
#include "agent/ring.h"

struct collector;

/* One entry of the CloudWatch agent's "measurement" list. */
struct metric_measurement {
    char *name;   /* field name without the plugin prefix, e.g. "usage_idle" */
    char *rename; /* published metric name, or NULL for "<plugin>_<name>" */
    enum metric_unit unit;
    bool unit_set;
};

/* The keys every CloudWatch agent metrics plugin accepts. */
struct collector_metric_opts {
    uint64_t interval_ns;      /* metrics_collection_interval; 0 = agent default */
    json_t *measurement_json;  /* bound raw, parsed into `measurements` */
    json_t *append_dimensions; /* object of string -> string */
    struct metric_measurement *measurements;
    size_t n_measurements;
};

struct collector_type {
    const char *name;
    const char *help;
    const char *config_path;
    bool config_is_list;
    bool metric_common;
    unsigned kinds; /* RECORD_KIND_BIT()s this collector emits */
    /* Metric plugins: every field a "measurement" entry may name (NULL-terminated); an
     * entry naming anything else is a configuration error. */
    const char *const *metric_fields;
    const struct cfg_field *fields;
    size_t ctx_size;

    int (*init)(struct collector *c);
    int (*start)(struct collector *c, uv_loop_t *loop);
    int (*flush)(struct collector *c);
    void (*stop)(struct collector *c);
    void (*destroy)(struct collector *c);
    void (*on_ack)(struct collector *c, const struct delivery_ack *ack);
    void (*on_space)(struct collector *c);
    /* Optional: extra self-metrics for the health endpoint (/metrics, /status), on the
     * collect loop. `emit` takes a Prometheus-safe metric name without the "osprey_"
     * prefix (e.g. "tail_lag_bytes"), at most one label (name and value, or NULLs) and
     * the value. */
    void (*self_metrics)(struct collector *c,
                         void (*emit)(void *user, const char *name, const char *label,
                                      const char *label_value, double value),
                         void *user);
    /* Optional: true when nothing this collector emitted still waits for a delivery
     * ack (a stopped log tail whose last batches are in flight answers false). Reload
     * keeps a stopped instance, delivering its acks, until it is quiescent or a deadline
     * passes, before a replacement that shares its state files starts. NULL = always. */
    bool (*quiescent)(struct collector *c);
    /* Optional: for `osprey --dry-run`, after init and without starting: print what this
     * instance would do, one fact per line ("listen udp 127.0.0.1:8125", "file
     * /var/log/syslog -> group/stream"), to out. No I/O beyond reading the file system. */
    void (*describe)(struct collector *c, FILE *out);
};

/* Where emitted records go; owned by the agent. */
struct collect_output {
    struct ring *ring;
    uv_async_t *wake; /* the export loop's wake-up */
};

struct collector {
    const struct collector_type *type;
    void *ctx;
    char name[PLUGIN_NAME_MAX];
    uint16_t id;
    enum plugin_state state;
    unsigned open_handles;
    unsigned kinds;       /* what this instance emits: type->kinds unless init narrows it */
    unsigned n_consumers; /* exporters that receive this collector's kinds */
    const struct plugin_env *env;
    struct collect_output *out;
    struct collector_metric_opts metric;
    struct selfstats stats;
    struct plugin_cfg cfg; /* only during bind and init */
    void (*on_stopped)(struct collector *c, void *data);
    void *on_stopped_data;
};

/* Core side. */
int collector_create(const struct collector_type *type, const char *name, uint16_t id,
                     const struct plugin_env *env, const struct plugin_cfg *cfg,
                     const json_t *config, struct collector **ret);
int collector_start(struct collector *c, uv_loop_t *loop, struct collect_output *out);
int collector_flush(struct collector *c);
void collector_stop(struct collector *c, void (*on_stopped)(struct collector *, void *),
                    void *data);
void collector_destroy(struct collector *c);
void collector_deliver_ack(struct collector *c, const struct delivery_ack *ack);
void collector_space_available(struct collector *c);
void collector_self_metrics(struct collector *c,
                            void (*emit)(void *user, const char *name, const char *label,
                                         const char *label_value, double value),
                            void *user);
bool collector_quiescent(struct collector *c);
void collector_describe(struct collector *c, FILE *out);
/* The keys every metric plugin (metric_common) accepts, for the configuration reference. */
const struct cfg_field *collector_metric_common_fields(void);

/* Plugin side. */
void collector_config_error(struct collector *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void collector_handle_opened(struct collector *c);
void collector_handle_closed(struct collector *c);

/* A scrape timer for metric collectors: the first tick at once, then every
 * collector_interval_ns(c); its handle is counted and closed with the collector. */
struct collector_timer {
    uv_timer_t timer;
    struct collector *c;
    void (*tick)(struct collector *c);
};

int collector_timer_start(struct collector *c, uv_loop_t *loop, struct collector_timer *t,
                          void (*tick)(struct collector *c));
void collector_timer_stop(struct collector_timer *t);

/* Effective scrape interval: the plugin's own, else the agent's. */
uint64_t collector_interval_ns(const struct collector *c);

/* The published metric for field `field` (e.g. "usage_idle"), or NULL when the
 * measurement list does not select it. `default_unit` is used unless the config
 * overrides it; ret_name receives "<plugin>_<field>" or the rename. */
const struct metric_measurement *collector_metric_selected(const struct collector *c,
                                                           const char *field);
/* Start a metric point: namespace, name (renamed), unit, storage resolution, the host
 * dimension and append_dimensions. name_buf must outlive the emit call. */
void collector_metric_begin(const struct collector *c, struct metric_point *p, const char *field,
                            enum metric_unit default_unit, char *name_buf, size_t name_cap);

int collector_emit_metric(struct collector *c, uint64_t ts_ns, uint64_t cookie,
                          const struct metric_point *p);
int collector_emit_log(struct collector *c, uint64_t ts_ns, uint64_t cookie,
                       const struct log_event *ev);
/* The same with record header flags (RECORD_FLAG_*). A RECORD_FLAG_LOCAL_ONLY point gets
 * no aggregation_dimensions rollups (those are for what goes to CloudWatch). */
int collector_emit_metric_flags(struct collector *c, uint64_t ts_ns, uint64_t cookie,
                                uint32_t flags, const struct metric_point *p);
int collector_emit_log_flags(struct collector *c, uint64_t ts_ns, uint64_t cookie, uint32_t flags,
                             const struct log_event *ev);
int collector_emit_segment(struct collector *c, uint64_t ts_ns, uint64_t cookie, const uint8_t *doc,
                           size_t len);
/* Log events of one group/stream with consecutive cookies, written into one open ring
 * reservation (RECORD_LOG_BATCH) and published together: for sources that emit many
 * events per loop turn (a tailed file). Contract: the caller owns the struct, adds with
 * collector_log_batch_add() and must call collector_log_batch_commit() before it returns
 * to the loop or emits anything else (the ring has one open reservation at a time). An
 * add that cannot join the open batch (other names, a cookie that does not follow, no
 * room left) commits it and opens the next. 0 = taken; -ENOSPC = the ring has no room (the
 * open batch was committed: request space and retry); -EINVAL = larger than any record
 * (counted as DROP_TOO_LARGE). `group` and `stream` must stay put while the batch is open. */
struct collector_log_batch {
    struct record_log_batch_writer w;
    const char *group;
    const char *stream;
    uint64_t next_cookie;
    bool open;
};
int collector_log_batch_add(struct collector *c, struct collector_log_batch *b, const char *group,
                            const char *stream, uint64_t ts_ns, uint64_t cookie, const uint8_t *msg,
                            uint32_t len);
void collector_log_batch_commit(struct collector *c, struct collector_log_batch *b);

/* Ask to be told (on_space) when the export side frees ring space. Try to emit once more
 * after asking before pausing (see ring_request_space). */
void collector_request_space(struct collector *c);

#endif
