/*
 * health: the agent's local health and self-metrics endpoint (osprey.health, default
 * http://127.0.0.1:2021), in two layers:
 *   - pure functions, unit-tested without a loop: the stuck decision for one exporter
 *     (health_track_update), Prometheus text-format 0.0.4 rendering with label escaping
 *     (struct prom_text), and the /healthz reason text;
 *   - struct health: an httpd (agent/httpd.h) on the COLLECT loop answering
 *       GET /healthz  200 "ok\n", or 503 with one reason line per stuck exporter;
 *       GET /metrics  every self-metric counter, Prometheus text format 0.0.4;
 *       GET /status   JSON: version, uptime, config path, plugins with state and
 *                     counters, ring, reloads;
 *     other paths 404, other methods 405.
 *
 * Stuck: an exporter is stuck when it has data waiting (it is not idle: records
 * buffered, sealed or in flight) and its count of delivered records (records_out) has not
 * moved for stuck_after seconds. Whether an exporter is idle can only be asked on the
 * export loop, so a sampler timer there publishes one atomic flag per exporter
 * (health_export_start/health_export_close); the collect loop reads the flags and the
 * exporters' atomic selfstats once a second and runs the decision. Nothing else crosses
 * threads.
 *
 * Contract
 * - The agent owns struct health and tells it what to report through struct
 *   health_source (callbacks on the collect loop), so health never owns a plugin.
 * - health_start() binds the listener: 0, or -errno (-EADDRINUSE, -EINVAL for a bad
 *   address) for the agent to report as a start-up error. health_close() closes the
 *   listener and the collect-loop timer and calls on_closed once every handle is closed.
 * - health_export_start() runs before the export thread starts (or while it is not
 *   running) and health_export_close() on the export loop, before that loop is expected
 *   to end (the agent calls it when the pipeline is done).
 * - Errors are return codes; rendering returns -ENOMEM when a buffer cannot grow.
 */
#ifndef OSPREY_HEALTH_H
#define OSPREY_HEALTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "agent/buf.h"
#include "agent/config.h"
#include "collectors/collector.h"
#include "exporters/exporter.h"

#define HEALTH_DEFAULT_ADDRESS "127.0.0.1:2021"
#define HEALTH_MAX_EXPORTERS   64

/* osprey.health, bound by settings. */
struct health_config {
    bool enabled;
    char *address;
    uint64_t stuck_after_ns;
};

extern const struct cfg_field health_fields[];

/* ---- pure layer --------------------------------------------------------------------- */

/* Progress of one exporter as seen from the collect loop. */
struct health_track {
    bool started;
    uint64_t last_progress; /* records_out at the last change */
    uint64_t since_ns;      /* when it last changed, or data last stopped waiting */
    uint64_t stalled_ns;    /* how long it has been stalled while data waits */
    bool stuck;
};

/* Feed one sample: `progress` (records delivered so far, monotonic), `waiting` (data is
 * buffered or in flight), `now_ns` (monotonic). Returns the new stuck state: true when
 * data has been waiting and progress has not moved for at least stuck_after_ns. Progress,
 * or nothing waiting, resets the clock. */
bool health_track_update(struct health_track *t, uint64_t progress, bool waiting, uint64_t now_ns,
                         uint64_t stuck_after_ns);

/* The /healthz line for a stuck exporter ("exporter NAME: no acknowledged records for
 * 30 s while data waits (1234 records taken and not yet delivered)"), into b. */
int health_reason_format(struct buf *b, const char *exporter, uint64_t stalled_ns,
                         uint64_t backlog_records);

/* Prometheus text format 0.0.4. A family (HELP, TYPE) is written once, then its
 * samples; callers write all samples of a family together, as the format requires. */
struct prom_text {
    struct buf *out;
    int error; /* first error (-ENOMEM, -EINVAL for a bad name), sticky */
};

/* Is `name` a valid metric or label name ([a-zA-Z_:][a-zA-Z0-9_:]*, no ':' for labels)? */
bool prom_name_valid(const char *name, bool label);
/* Append a label value escaped per the format (\\, \", \n). */
int prom_escape_label_value(struct buf *b, const char *value);
/* Append the HELP text escaped per the format (\\, \n). */
int prom_escape_help(struct buf *b, const char *help);
void prom_family(struct prom_text *p, const char *name, const char *type, const char *help);
/* One sample: `labels` is NULL or a NULL-terminated list of name, value pairs. */
void prom_sample(struct prom_text *p, const char *name, const char *const *labels, double value);

/* ---- server ------------------------------------------------------------------------- */

/* What the agent shows; every callback runs on the collect loop. */
struct health_source {
    void *data;
    /* The plugins running now (collectors include stopped ones still awaiting acks). */
    size_t (*n_collectors)(void *data);
    struct collector *(*collector)(void *data, size_t i);
    size_t (*n_exporters)(void *data);
    struct exporter *(*exporter)(void *data, size_t i);
    struct ring *(*ring)(void *data);
    /* Agent-wide counters: acks lost, records unrouted, undecodable, reloads. */
    void (*agent_counters)(void *data, uint64_t *acks_lost, uint64_t *unrouted,
                           uint64_t *undecodable, uint64_t *reloads_ok, uint64_t *reloads_failed);
    const char *config_path;
};

struct health {
    struct health_config config;
    struct health_source src;
    uv_loop_t *loop;
    struct httpd *httpd;
    uv_timer_t check; /* collect loop, once a second */
    bool check_open;
    uint64_t started_ns;      /* realtime, for uptime */
    uint64_t started_mono_ns; /* monotonic */
    size_t n_tracked;
    struct health_track tracks[HEALTH_MAX_EXPORTERS];
    char tracked_names[HEALTH_MAX_EXPORTERS][PLUGIN_NAME_MAX];
    /* Export-loop sampler: busy[i] = exporter i is not idle. */
    uv_timer_t sampler;
    bool sampler_open;
    struct exporter **sampled;
    size_t n_sampled;
    _Atomic bool busy[HEALTH_MAX_EXPORTERS];
    _Atomic uint64_t samples; /* how many sampler ticks ran (0: flags not valid yet) */
    unsigned open_handles;
    bool closing;
    void (*on_closed)(void *data);
    void *on_closed_data;
};

/* Clear the state and remember the source; allocates nothing. */
void health_init(struct health *h, const struct health_source *src);
/* Collect loop: serve with `cfg` (copied; the address is duplicated). Does nothing when
 * cfg->enabled is false. -errno when the address cannot be bound (then call health_close
 * before starting again). May be called again after health_close() completed. */
int health_start(struct health *h, uv_loop_t *loop, const struct health_config *cfg);
/* The bound port (0 when not listening). */
int health_port(const struct health *h);
/* Export loop (or before its thread runs): sample these exporters' idleness. The sampler
 * runs whether or not the listener is enabled, so a reload can turn the listener on. */
int health_export_start(struct health *h, uv_loop_t *export_loop, struct exporter **exporters,
                        size_t n);
/* Export loop: stop sampling and close the sampler handle. */
void health_export_close(struct health *h);
/* Collect loop: the exporters changed (after a restart): forget their progress. */
void health_reset_tracks(struct health *h);
/* Collect loop: close the listener and the check timer; on_closed runs once both are
 * closed (at once when nothing was open). */
void health_close(struct health *h, void (*on_closed)(void *data), void *data);
/* After on_closed (or when never started): free the copied configuration. */
void health_release(struct health *h);

/* Renderers behind the endpoints, exposed for tests: 0 or -ENOMEM. */
int health_render_metrics(struct health *h, struct buf *out);
int health_render_status(struct health *h, struct buf *out);
/* 200 and "ok\n", or 503 with one reason line per stuck exporter. */
int health_render_healthz(struct health *h, struct buf *out);

#endif
