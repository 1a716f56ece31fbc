#include "agent/agent.h"

#include "agent/buf.h"
#include "agent/clock.h"
#include "agent/health.h"
#include "agent/log.h"
#include "agent/pipeline.h"
#include "agent/registry.h"
#include "agent/ring.h"
#include "agent/sd_notify.h"
#include "agent/settings.h"
#include "exporters/http.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <uv.h>

#define AGENT_MAX_IDS        65536u /* delivery_ack.source is a uint16_t */
#define AGENT_RETIRE_POLL_MS 50

/*
 * Reload (SIGHUP) keeps plugins across configurations, so one running agent can hold
 * plugins created from several loaded files. A generation is one loaded file: its
 * settings stay alive while any collector created from it lives (a collector's env
 * points into them) and while its exporters run (`base`).
 */
struct generation {
    struct settings settings;
    size_t refs;
    char *global_key; /* everything but the collectors' own subtrees, canonical */
    char *env_key;    /* what collectors see of the metrics section, canonical */
};

/* A collector the agent runs, with the generation it was created from. */
struct slot {
    struct collector *c;
    struct generation *g;
    const char *config; /* canonical JSON of its subtree, owned by g */
};

struct slots {
    struct slot *v;
    size_t n, cap;
};

struct agent {
    const char *config_path;
    struct generation *base; /* exporters and the agent/osprey sections in force */
    struct ring ring;
    struct pipeline pipeline;
    uv_loop_t collect_loop;
    uv_loop_t export_loop;
    uv_thread_t export_thread;
    bool export_running;
    uv_signal_t sigint;
    uv_signal_t sigterm;
    uv_signal_t sighup;
    uv_timer_t summary;
    uv_timer_t retire_poll;
    uv_async_t ack_wake;
    uv_async_t export_done;
    struct collect_output out;
    struct instance_meta instance;
    bool instance_known;
    struct health health;

    struct slots active;   /* started (or starting) collectors */
    struct slots retiring; /* stopped by a reload, still receiving their acks */
    struct slots pending;  /* created by a reload, started once `retiring` is empty */
    struct collector **by_id;
    uint32_t next_id;
    uint64_t retire_deadline_ns;
    uint64_t reload_started_ns;

    struct generation *restart_to; /* a full restart is under way */
    bool reloading;                /* a partial reload waits for retiring collectors */
    bool reload_again;             /* SIGHUP arrived meanwhile */
    uint64_t reloads_ok;
    uint64_t reloads_failed;

    bool stopping_all; /* every collector was told to stop (shutdown or restart) */
    bool input_closed;
    bool shutting_down;
    int exit_code;
    int log_fd;
};

static void agent_reload(struct agent *a);
static void on_retire_poll(uv_timer_t *t);

/* ---- configuration checks -------------------------------------------------------------- */

int agent_check_config(const char *path, FILE *out, FILE *err)
{
    struct settings s;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    /* Plugins are created and inited (no I/O) so cross-field checks run too. */
    int r = settings_load(&s, path, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(err, "%s\n", errs.msgs[i]);
    if (r == 0) {
        fprintf(out, "%s: valid (%zu collectors, %zu sinks)\n", path, s.n_collectors,
                s.n_exporters);
        settings_release(&s);
    } else if (errs.n == 0) {
        fprintf(err, "%s: invalid: %s\n", path, strerror(-r));
    }
    cfg_errors_release(&errs);
    return r == 0 ? 0 : 1;
}

/* ---- generations ------------------------------------------------------------------------ */

/* Remove `path` ("a/b/c") from a JSON tree, if present. */
static void json_remove_path(json_t *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    char *last = strrchr(buf, '/');
    json_t *parent = root;
    if (last) {
        *last = '\0';
        for (char *save = NULL, *part = strtok_r(buf, "/", &save); parent && part;
             part = strtok_r(NULL, "/", &save))
            parent = json_is_object(parent) ? json_object_get(parent, part) : NULL;
        last++;
    } else {
        last = buf;
    }
    if (json_is_object(parent))
        json_object_del(parent, last);
}

/*
 * What a reload compares. The collectors' own subtrees (metrics_collected entries, logs
 * collectors, osprey.generate) are compared per collector; the metrics section's
 * namespace and dimensions are what collectors see of it (env_key); everything else
 * (agent, osprey, traces, the sinks, endpoints, credentials) forms global_key, and a
 * change there restarts every plugin.
 */
static int generation_keys(struct generation *g)
{
    static const char *const env_paths[] = {"metrics/namespace", "metrics/append_dimensions",
                                            "metrics/aggregation_dimensions"};
    json_t *root = json_deep_copy(g->settings.doc.root);
    json_t *env = json_object();
    int ret = -ENOMEM;
    if (!root || !env)
        goto cleanup;
    json_t *metrics = json_object_get(root, "metrics");
    for (size_t i = 0; i < sizeof(env_paths) / sizeof(env_paths[0]); i++) {
        json_t *v = json_is_object(metrics) ? json_object_get(metrics, env_paths[i] + 8) : NULL;
        if (v)
            json_object_set(env, env_paths[i] + 8, v);
        json_remove_path(root, env_paths[i]);
    }
    for (size_t i = 0; i < registry_n_collectors; i++) {
        const char *p = registry_collectors[i]->config_path;
        if (strncmp(p, "metrics/metrics_collected/", 26) == 0 ||
            strncmp(p, "logs/metrics_collected/", 23) == 0 ||
            strncmp(p, "logs/logs_collected/", 20) == 0 || strcmp(p, "osprey/generate") == 0)
            json_remove_path(root, p);
    }
    g->global_key = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
    g->env_key = json_dumps(env, JSON_SORT_KEYS | JSON_COMPACT);
    if (g->global_key && g->env_key)
        ret = 0;
cleanup:
    json_decref(root);
    json_decref(env);
    return ret;
}

static void generation_free(struct generation *g)
{
    if (!g)
        return;
    /* Collectors and exporters the agent adopted were taken out (NULL) already. */
    settings_release(&g->settings);
    free(g->global_key);
    free(g->env_key);
    free(g);
}

static void generation_unref(struct generation *g)
{
    if (g && --g->refs == 0)
        generation_free(g);
}

/* Load and validate `path`; NULL (errors logged, one per line) when it is invalid. */
static struct generation *generation_load(const char *path)
{
    struct generation *g = calloc(1, sizeof(*g));
    if (!g) {
        log_error(NULL, "out of memory");
        return NULL;
    }
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    int r = settings_load(&g->settings, path, &errs);
    for (size_t i = 0; i < errs.n; i++)
        log_error(NULL, "%s", errs.msgs[i]);
    if (r != 0 && errs.n == 0)
        log_error(NULL, "%s: %s", path, strerror(-r));
    cfg_errors_release(&errs);
    if (r != 0) {
        free(g);
        return NULL;
    }
    if (generation_keys(g) != 0) {
        log_error(NULL, "out of memory");
        generation_free(g);
        return NULL;
    }
    return g;
}

/* ---- collector bookkeeping ------------------------------------------------------------- */

static int slots_push(struct slots *s, struct slot v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct slot *grown = realloc(s->v, cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        s->v = grown;
        s->cap = cap;
    }
    s->v[s->n++] = v;
    return 0;
}

static void close_all_handles(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int slots_reserve(struct slots *s, size_t extra)
{
    if (s->n + extra <= s->cap)
        return 0;
    size_t cap = s->n + extra;
    struct slot *grown = realloc(s->v, cap * sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    s->v = grown;
    s->cap = cap;
    return 0;
}

static void slots_remove(struct slots *s, size_t i)
{
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(s->v[0]));
    s->n--;
}

/* Ids are handed out in a circle, so an id comes back only after every other one was
 * used: acks still in flight for a destroyed collector find no one (they are dropped),
 * never a newer collector. */
static void agent_assign_id(struct agent *a, struct collector *c)
{
    for (uint32_t tries = 0; tries < AGENT_MAX_IDS; tries++) {
        uint32_t id = a->next_id++ % AGENT_MAX_IDS;
        if (!a->by_id[id]) {
            c->id = (uint16_t)id;
            a->by_id[id] = c;
            return;
        }
    }
    /* Unreachable: settings allow far fewer collectors than ids. */
    abort();
}

static void agent_destroy_slot(struct agent *a, struct slot *s)
{
    if (a->by_id[s->c->id] == s->c)
        a->by_id[s->c->id] = NULL;
    collector_destroy(s->c);
    generation_unref(s->g);
}

/* Take every collector out of a freshly loaded generation: each one is either adopted
 * (into `into`, with a fresh id) or destroyed. */
static int agent_adopt(struct agent *a, struct generation *g, size_t j, struct slots *into)
{
    struct slot s = {g->settings.collectors[j], g, settings_collector_config(&g->settings, j)};
    int r = slots_push(into, s);
    if (r != 0)
        return r;
    g->settings.collectors[j] = NULL;
    g->refs++;
    agent_assign_id(a, s.c);
    return 0;
}

static void agent_drop_exporters(struct generation *g)
{
    for (size_t i = 0; i < g->settings.n_exporters; i++) {
        exporter_destroy(g->settings.exporters[i]);
        g->settings.exporters[i] = NULL;
    }
}

/* ---- summary ---------------------------------------------------------------------------- */

static void summary_append_stats(struct buf *b, const char *name, struct selfstats *st, bool in)
{
    (void)buf_printf(b, " %s=%llu", name,
                     (unsigned long long)selfstats_get(in ? &st->records_in : &st->records_out));
    uint64_t dropped = selfstats_dropped_total(st);
    if (dropped)
        (void)buf_printf(b, "(dropped %llu)", (unsigned long long)dropped);
    uint64_t errors = selfstats_get(&st->errors);
    if (errors)
        (void)buf_printf(b, "(errors %llu)", (unsigned long long)errors);
    for (unsigned i = 0; st->reject_names && st->reject_names[i] && i < SELFSTATS_REJECT_MAX; i++) {
        uint64_t n = selfstats_get(&st->rejects[i]);
        if (n)
            (void)buf_printf(b, "(%s %llu)", st->reject_names[i], (unsigned long long)n);
    }
}

static void agent_log_summary(struct agent *a, const char *prefix)
{
    struct buf b;
    buf_init(&b, 4096);
    (void)buf_printf(&b, "%s collected:", prefix);
    for (size_t i = 0; i < a->active.n; i++) {
        struct collector *c = a->active.v[i].c;
        summary_append_stats(&b, c->name, &c->stats, false);
    }
    (void)buf_append_str(&b, " | delivered:");
    for (size_t i = 0; i < a->base->settings.n_exporters; i++) {
        struct exporter *e = a->base->settings.exporters[i];
        summary_append_stats(&b, e->name, &e->stats, false);
    }
    size_t cap = ring_capacity(&a->ring);
    (void)buf_printf(&b, " | ring %.1f%% (high water %.1f%%)",
                     100.0 * (double)ring_used_bytes(&a->ring) / (double)cap,
                     100.0 * (double)ring_high_water_bytes(&a->ring) / (double)cap);
    uint64_t lost = atomic_load(&a->pipeline.acks_lost);
    uint64_t unrouted = atomic_load(&a->pipeline.records_unrouted);
    uint64_t undecodable = atomic_load(&a->pipeline.records_undecodable);
    if (lost || unrouted || undecodable)
        (void)buf_printf(&b, " | acks lost %llu, unrouted %llu, undecodable %llu",
                         (unsigned long long)lost, (unsigned long long)unrouted,
                         (unsigned long long)undecodable);
    log_info(NULL, "%s", b.data ? (const char *)b.data : prefix);
    buf_release(&b);
}

static void on_summary(uv_timer_t *h)
{
    agent_log_summary(h->data, "summary");
}

static void agent_start_summary(struct agent *a)
{
    uint64_t summary_ms = a->base->settings.osprey.summary_interval_ns / NS_PER_MS;
    uv_timer_stop(&a->summary);
    if (summary_ms)
        uv_timer_start(&a->summary, on_summary, summary_ms, summary_ms);
}

/* ---- what the health endpoint sees -------------------------------------------------------- */

static size_t src_n_collectors(void *data)
{
    return ((struct agent *)data)->active.n;
}

static struct collector *src_collector(void *data, size_t i)
{
    return ((struct agent *)data)->active.v[i].c;
}

static size_t src_n_exporters(void *data)
{
    return ((struct agent *)data)->base->settings.n_exporters;
}

static struct exporter *src_exporter(void *data, size_t i)
{
    return ((struct agent *)data)->base->settings.exporters[i];
}

static struct ring *src_ring(void *data)
{
    return &((struct agent *)data)->ring;
}

static void src_counters(void *data, uint64_t *acks_lost, uint64_t *unrouted, uint64_t *undecodable,
                         uint64_t *reloads_ok, uint64_t *reloads_failed)
{
    struct agent *a = data;
    *acks_lost = atomic_load(&a->pipeline.acks_lost);
    *unrouted = atomic_load(&a->pipeline.records_unrouted);
    *undecodable = atomic_load(&a->pipeline.records_undecodable);
    *reloads_ok = a->reloads_ok;
    *reloads_failed = a->reloads_failed;
}

/* ---- acks and stopping -------------------------------------------------------------------- */

static void agent_check_retiring(struct agent *a);

static void agent_take_acks(struct agent *a)
{
    struct delivery_ack ack;
    while (pipeline_take_ack(&a->pipeline, &ack)) {
        struct collector *c = a->by_id[ack.source];
        if (c)
            collector_deliver_ack(c, &ack);
    }
    if (pipeline_take_space_freed(&a->pipeline)) {
        for (size_t i = 0; i < a->active.n; i++)
            collector_space_available(a->active.v[i].c);
    }
    if (a->retiring.n)
        agent_check_retiring(a);
}

static void on_ack_wake(uv_async_t *h)
{
    agent_take_acks(h->data);
}

static bool all_collectors_stopped(const struct agent *a)
{
    for (size_t i = 0; i < a->active.n; i++)
        if (a->active.v[i].c->state != PLUGIN_STOPPED)
            return false;
    for (size_t i = 0; i < a->retiring.n; i++)
        if (a->retiring.v[i].c->state != PLUGIN_STOPPED)
            return false;
    return true;
}

/* The ring's input closes once no collector can emit any more. */
static void agent_maybe_close_input(struct agent *a)
{
    if (!a->stopping_all || a->input_closed || !all_collectors_stopped(a))
        return;
    a->input_closed = true;
    pipeline_close_input(&a->pipeline);
}

static void on_collector_stopped(struct collector *c, void *data)
{
    (void)c;
    agent_maybe_close_input(data);
}

/* Shutdown and full restart: collectors flush and stop; the pipeline then drains the
 * ring, flushes the exporters and waits for them up to the shutdown deadline. */
static void agent_stop_all(struct agent *a)
{
    a->stopping_all = true;
    for (size_t i = 0; i < a->pending.n; i++)
        agent_destroy_slot(a, &a->pending.v[i]);
    a->pending.n = 0;
    uv_timer_stop(&a->summary);
    for (size_t i = 0; i < a->active.n; i++) {
        struct collector *c = a->active.v[i].c;
        if (c->state == PLUGIN_STARTED) {
            int r = collector_flush(c);
            if (r != 0)
                log_warn(c->name, "flush before stopping failed: %s", strerror(-r));
        }
        collector_stop(c, on_collector_stopped, a);
    }
    agent_maybe_close_input(a);
}

static void agent_begin_shutdown(struct agent *a, int signum)
{
    if (a->shutting_down) {
        log_warn(NULL, "already stopping (deadline %llu ms)",
                 (unsigned long long)(a->base->settings.osprey.shutdown_deadline_ns / NS_PER_MS));
        return;
    }
    a->shutting_down = true;
    int notified = sd_notify_send("STOPPING=1"); /* systemd: stop is under way */
    if (notified != 0)
        log_warn(NULL, "cannot notify the service manager: %s", strerror(-notified));
    log_info(NULL, "received %s, stopping", strsignal(signum));
    if (!a->stopping_all)
        agent_stop_all(a);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct agent *a = h->data;
    if (signum == SIGHUP)
        agent_reload(a);
    else
        agent_begin_shutdown(a, signum);
}

static void on_pipeline_done(struct pipeline *p, void *data)
{
    struct agent *a = data;
    (void)p;
    /* Runs on the export loop: close what health keeps there, then hand over to the
     * collect loop. */
    health_export_close(&a->health);
    uv_async_send(&a->export_done);
}

static void export_thread_main(void *arg)
{
    struct agent *a = arg;
    uv_run(&a->export_loop, UV_RUN_DEFAULT);
}

static void agent_join_export(struct agent *a)
{
    if (a->export_running) {
        uv_thread_join(&a->export_thread);
        a->export_running = false;
    }
}

static void agent_close_collect_handles(struct agent *a)
{
    uv_close((uv_handle_t *)&a->ack_wake, NULL);
    uv_close((uv_handle_t *)&a->export_done, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sighup, NULL);
    uv_close((uv_handle_t *)&a->summary, NULL);
    uv_close((uv_handle_t *)&a->retire_poll, NULL);
    health_close(&a->health, NULL, NULL);
}

static void agent_finish_restart(struct agent *a);

static void on_export_done(uv_async_t *h)
{
    struct agent *a = h->data;
    /* The export loop has nothing left: its thread returns at once. */
    agent_join_export(a);
    agent_take_acks(a);
    if (a->restart_to && !a->shutting_down) {
        agent_finish_restart(a);
        return;
    }
    agent_close_collect_handles(a);
}

/* ---- start-up --------------------------------------------------------------------------- */

static void agent_apply_logging(struct agent *a)
{
    struct settings *s = &a->base->settings;
    enum log_level level = (enum log_level)s->osprey.log_level;
    if (s->agent.debug)
        level = LOG_LEVEL_DEBUG;
    if (s->agent.quiet)
        level = LOG_LEVEL_ERROR;
    log_set_level(level);
    int old_fd = a->log_fd;
    a->log_fd = -1;
    if (s->agent.logfile) {
        a->log_fd = open(s->agent.logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (a->log_fd < 0)
            log_warn(NULL, "cannot open logfile '%s': %s, logging to stderr", s->agent.logfile,
                     strerror(errno));
    }
    log_set_fd(a->log_fd >= 0 ? a->log_fd : 2);
    if (old_fd >= 0)
        close(old_fd);
}

static int agent_start_collect_loop(struct agent *a)
{
    uv_loop_t *loop = &a->collect_loop;
    int r = uv_async_init(loop, &a->ack_wake, on_ack_wake);
    if (r == 0)
        r = uv_async_init(loop, &a->export_done, on_export_done);
    if (r != 0)
        return r;
    a->ack_wake.data = a;
    a->export_done.data = a;
    uv_signal_t *sigs[] = {&a->sigint, &a->sigterm, &a->sighup};
    int signums[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < 3; i++) {
        uv_signal_init(loop, sigs[i]);
        sigs[i]->data = a;
        uv_signal_start(sigs[i], on_signal, signums[i]);
    }
    uv_timer_init(loop, &a->summary);
    a->summary.data = a;
    uv_timer_init(loop, &a->retire_poll);
    a->retire_poll.data = a;
    agent_start_summary(a);
    return 0;
}

/* Start one collector; a failure is logged and the collector left out (destroyed). */
static int agent_start_slot(struct agent *a, struct slot *s)
{
    int r = collector_start(s->c, &a->collect_loop, &a->out);
    if (r != 0)
        log_error(s->c->name, "cannot start: %s", uv_strerror(r < 0 ? r : -r));
    return r;
}

/* ${aws:...} dimension values come from EC2 instance metadata, asked once. Off EC2 (or
 * with IMDS off) the metrics are published without them, as the CloudWatch agent does;
 * the log says so once. */
static void agent_region_from_instance(struct agent *a, struct settings *s)
{
    if (!s->env.region && s->env.region_from_instance && a->instance.region[0]) {
        s->env.region = a->instance.region;
        log_info(NULL, "region %s (from instance metadata)", s->env.region);
    }
}

static void agent_fetch_instance_meta(struct agent *a, struct settings *s)
{
    if (a->instance_known) {
        s->env.instance = &a->instance;
        agent_region_from_instance(a, s);
        return;
    }
    if (!settings_need_instance_meta(s))
        return;
    const char *disabled = getenv("AWS_EC2_METADATA_DISABLED");
    if (disabled && strcasecmp(disabled, "true") == 0) {
        log_warn(NULL, "AWS_EC2_METADATA_DISABLED is set: ${aws:...} dimensions are left out");
        return;
    }
    const char *endpoint = s->creds.imds_endpoint;
    if (!endpoint)
        endpoint = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (!endpoint)
        endpoint = INSTANCE_META_DEFAULT_ENDPOINT;
    int r = instance_meta_fetch(endpoint, 1000, &a->instance);
    if (r != 0) {
        log_warn(NULL,
                 "EC2 instance metadata at %s did not answer (%s): ${aws:...} dimensions are "
                 "left out",
                 endpoint, strerror(-r));
        return;
    }
    log_info(NULL, "instance metadata: %s (%s, %s)%s%s", a->instance.instance_id,
             a->instance.instance_type, a->instance.image_id,
             a->instance.autoscaling_group[0] ? ", Auto Scaling group " : "",
             a->instance.autoscaling_group);
    a->instance_known = true;
    s->env.instance = &a->instance;
    agent_region_from_instance(a, s);
}

/* Ring, pipeline, export-side handles and the export thread, for a->base. The export
 * thread is not running when this is called. */
static int agent_start_export(struct agent *a)
{
    struct settings *s = &a->base->settings;
    int r = ring_init(&a->ring, (size_t)s->osprey.ring_bytes);
    if (r != 0) {
        log_error(NULL, "cannot allocate the ring: %s", strerror(-r));
        return r;
    }
    r = pipeline_init(&a->pipeline, &a->ring, s->exporters, s->n_exporters,
                      s->osprey.flush_interval_ns, s->osprey.shutdown_deadline_ns);
    if (r != 0) {
        log_error(NULL, "cannot set up the pipeline: %s", strerror(-r));
        return r;
    }
    pipeline_set_credentials_options(&a->pipeline, &s->creds_opts);
    a->out.ring = &a->ring;
    a->out.wake = &a->pipeline.wake;
    a->input_closed = false;
    a->stopping_all = false;
    r = pipeline_start(&a->pipeline, &a->export_loop, &a->ack_wake, on_pipeline_done, a);
    if (r == 0)
        r = health_export_start(&a->health, &a->export_loop, s->exporters, s->n_exporters);
    if (r != 0) {
        log_error(NULL, "start-up failed: %s", uv_strerror(r));
        return r;
    }
    r = uv_thread_create(&a->export_thread, export_thread_main, a);
    if (r != 0) {
        log_error(NULL, "cannot start the export thread: %s", uv_strerror(r));
        return r;
    }
    a->export_running = true;
    return 0;
}

/* Adopt every collector of the base generation and start them. */
static int agent_start_collectors(struct agent *a)
{
    struct generation *g = a->base;
    for (size_t j = 0; j < g->settings.n_collectors; j++) {
        int r = agent_adopt(a, g, j, &a->active);
        if (r != 0) {
            log_error(NULL, "out of memory");
            return r;
        }
    }
    for (size_t i = 0; i < a->active.n; i++) {
        int r = agent_start_slot(a, &a->active.v[i]);
        if (r != 0)
            return r;
    }
    return 0;
}

/* ---- reload ------------------------------------------------------------------------------ */

static void agent_notify(const char *state)
{
    int r = sd_notify_send(state);
    if (r != 0)
        log_warn(NULL, "cannot notify the service manager: %s", strerror(-r));
}

static void agent_notify_reloading(void)
{
    char state[96];
    snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)(clock_monotonic_ns() / 1000));
    agent_notify(state);
}

/* Why `g` cannot be applied plugin by plugin, or NULL when it can. */
static const char *restart_reason(const struct generation *old, const struct generation *g)
{
    if (strcmp(old->global_key, g->global_key) != 0)
        return "the agent, osprey, traces or sink settings changed";
    const struct settings *a = &old->settings, *b = &g->settings;
    if (a->n_exporters != b->n_exporters)
        return "the set of sinks changed";
    for (size_t i = 0; i < a->n_exporters; i++) {
        const struct exporter *x = a->exporters[i], *y = b->exporters[i];
        if (x->type != y->type || strcmp(x->name, y->name) != 0 || x->kinds != y->kinds)
            return "the set of sinks changed";
    }
    return NULL;
}

static bool same_collector(const struct slot *old, const struct generation *g, size_t j)
{
    const struct collector *c = old->c, *n = g->settings.collectors[j];
    const char *cfg = settings_collector_config(&g->settings, j);
    if (c->type != n->type || strcmp(c->name, n->name) != 0 || c->kinds != n->kinds)
        return false;
    if ((old->config == NULL) != (cfg == NULL) || (cfg && strcmp(old->config, cfg) != 0))
        return false;
    return strcmp(old->g->env_key, g->env_key) == 0;
}

static void list_append(struct buf *b, const char *name)
{
    (void)buf_printf(b, "%s%s", b->len ? ", " : "", name);
}

static const char *list_text(const struct buf *b)
{
    return b->len ? (const char *)b->data : "none";
}

/* Start what a reload created, once nothing it replaces is left. */
static void agent_finish_reload(struct agent *a)
{
    if (slots_reserve(&a->active, a->pending.n) != 0 ||
        slots_reserve(&a->retiring, a->pending.n) != 0) {
        log_error(NULL, "out of memory: the reload's new collectors are left out");
        for (size_t i = 0; i < a->pending.n; i++)
            agent_destroy_slot(a, &a->pending.v[i]);
        a->pending.n = 0;
    }
    for (size_t i = 0; i < a->pending.n; i++) {
        struct slot s = a->pending.v[i];
        if (agent_start_slot(a, &s) == 0) {
            (void)slots_push(&a->active, s); /* reserved above */
            continue;
        }
        /* It may have opened handles before failing: stop it, destroy it once stopped. */
        (void)slots_push(&a->retiring, s);
        collector_stop(s.c, on_collector_stopped, a);
        uv_timer_start(&a->retire_poll, on_retire_poll, AGENT_RETIRE_POLL_MS, AGENT_RETIRE_POLL_MS);
    }
    if (a->pending.n)
        log_info(NULL, "reload: %zu new or changed collectors started, %llu ms after SIGHUP",
                 a->pending.n,
                 (unsigned long long)((clock_monotonic_ns() - a->reload_started_ns) / NS_PER_MS));
    a->pending.n = 0;
    a->reloading = false;
    a->reloads_ok++;
    agent_notify("READY=1");
    if (a->reload_again) {
        a->reload_again = false;
        agent_reload(a);
    }
}

static void agent_check_retiring(struct agent *a)
{
    uint64_t now = clock_monotonic_ns();
    for (size_t i = 0; i < a->retiring.n;) {
        struct slot *s = &a->retiring.v[i];
        if (s->c->state != PLUGIN_STOPPED) {
            i++;
            continue;
        }
        bool quiet = collector_quiescent(s->c);
        if (!quiet && now < a->retire_deadline_ns) {
            i++;
            continue;
        }
        if (!quiet)
            log_warn(s->c->name,
                     "records still unacknowledged at the reload deadline; replacing it anyway "
                     "(a source with checkpoints re-reads them)");
        agent_destroy_slot(a, s);
        slots_remove(&a->retiring, i);
    }
    if (a->retiring.n == 0) {
        uv_timer_stop(&a->retire_poll);
        if (a->reloading && !a->stopping_all)
            agent_finish_reload(a);
    }
}

static void on_retire_poll(uv_timer_t *t)
{
    agent_check_retiring(t->data);
}

/* Apply `g` plugin by plugin: unchanged collectors keep running; the others stop and are
 * replaced once their acks are in. The exporters keep running (g's are never started). */
static void agent_reload_partial(struct agent *a, struct generation *g)
{
    struct buf kept, restarted, added, removed;
    buf_init(&kept, 64 * 1024);
    buf_init(&restarted, 64 * 1024);
    buf_init(&added, 64 * 1024);
    buf_init(&removed, 64 * 1024);
    bool *matched = calloc(a->active.n + 1, sizeof(*matched));
    struct slots still = {0};
    if (!matched || slots_reserve(&still, a->active.n + 1) != 0 ||
        slots_reserve(&a->retiring, a->active.n) != 0) {
        free(matched);
        free(still.v);
        log_error(NULL, "out of memory; reload abandoned");
        a->reloads_failed++;
        generation_free(g);
        agent_notify("READY=1");
        return;
    }
    agent_drop_exporters(g);
    for (size_t j = 0; j < g->settings.n_collectors; j++) {
        size_t i = 0;
        while (i < a->active.n && (matched[i] || !same_collector(&a->active.v[i], g, j)))
            i++;
        if (i < a->active.n) {
            matched[i] = true;
            list_append(&kept, a->active.v[i].c->name);
            collector_destroy(g->settings.collectors[j]);
            g->settings.collectors[j] = NULL;
            continue;
        }
        if (agent_adopt(a, g, j, &a->pending) != 0) {
            /* Out of memory: leave the rest out rather than half-apply it silently. */
            log_error(g->settings.collectors[j]->name, "out of memory; not started");
            continue;
        }
    }
    a->retire_deadline_ns = clock_monotonic_ns() + a->base->settings.osprey.shutdown_deadline_ns;
    for (size_t i = 0; i < a->active.n; i++) {
        struct slot s = a->active.v[i];
        if (matched[i]) {
            (void)slots_push(&still, s); /* reserved above */
            continue;
        }
        bool replaced = false;
        for (size_t k = 0; k < a->pending.n && !replaced; k++)
            replaced = a->pending.v[k].c->type == s.c->type &&
                       strcmp(a->pending.v[k].c->name, s.c->name) == 0;
        list_append(replaced ? &restarted : &removed, s.c->name);
        if (s.c->state == PLUGIN_STARTED) {
            int r = collector_flush(s.c);
            if (r != 0)
                log_warn(s.c->name, "flush before stopping failed: %s", strerror(-r));
        }
        (void)slots_push(&a->retiring, s); /* reserved above */
        collector_stop(s.c, on_collector_stopped, a);
    }
    free(a->active.v);
    a->active = still;
    for (size_t k = 0; k < a->pending.n; k++) {
        bool replaces = false;
        const struct collector *c = a->pending.v[k].c;
        for (size_t i = 0; i < a->retiring.n && !replaces; i++)
            replaces = a->retiring.v[i].c->type == c->type &&
                       strcmp(a->retiring.v[i].c->name, c->name) == 0;
        if (!replaces)
            list_append(&added, c->name);
    }
    free(matched);
    log_info(NULL, "reload applied: kept [%s], restarted [%s], added [%s], removed [%s]",
             list_text(&kept), list_text(&restarted), list_text(&added), list_text(&removed));
    buf_release(&kept);
    buf_release(&restarted);
    buf_release(&added);
    buf_release(&removed);
    if (g->refs == 0)
        generation_free(g);
    a->reloading = true;
    if (a->retiring.n)
        uv_timer_start(&a->retire_poll, on_retire_poll, AGENT_RETIRE_POLL_MS, AGENT_RETIRE_POLL_MS);
    agent_check_retiring(a);
}

static void agent_reload(struct agent *a)
{
    if (a->shutting_down)
        return;
    if (a->reloading || a->restart_to) {
        log_info(NULL, "SIGHUP during a reload: reloading again once this one is done");
        a->reload_again = true;
        return;
    }
    agent_notify_reloading();
    a->reload_started_ns = clock_monotonic_ns();
    log_info(NULL, "received SIGHUP, reloading %s", a->config_path);
    struct generation *g = generation_load(a->config_path);
    if (!g) {
        a->reloads_failed++;
        log_error(NULL,
                  "reload rejected: %s is invalid (errors above); the running "
                  "configuration stays in force",
                  a->config_path);
        agent_notify("READY=1");
        return;
    }
    agent_fetch_instance_meta(a, &g->settings);
    const char *why = restart_reason(a->base, g);
    if (!why) {
        agent_reload_partial(a, g);
        return;
    }
    log_info(NULL,
             "reload: %s: restarting every plugin (queued records are delivered first, up "
             "to the shutdown deadline; log sources resume from their checkpoints)",
             why);
    a->restart_to = g;
    agent_stop_all(a);
}

static void on_health_restarted(void *data)
{
    struct agent *a = data;
    health_release(&a->health);
    int r = health_start(&a->health, &a->collect_loop, &a->base->settings.health);
    if (r != 0) {
        log_error(NULL, "cannot serve the health endpoint on %s: %s; running without it",
                  a->base->settings.health.address, uv_strerror(r));
        health_close(&a->health, NULL, NULL);
    } else if (a->base->settings.health.enabled) {
        log_info(NULL, "health endpoint listening on %s (port %d)",
                 a->base->settings.health.address, health_port(&a->health));
    }
}

/* Every plugin of the old configuration is stopped and its queue drained: build the new
 * one. Runs on the collect loop with the export thread joined. */
static void agent_finish_restart(struct agent *a)
{
    struct generation *g = a->restart_to, *old = a->base;
    a->restart_to = NULL;
    struct slots *lists[] = {&a->active, &a->retiring, &a->pending};
    for (size_t l = 0; l < 3; l++) {
        for (size_t i = 0; i < lists[l]->n; i++)
            agent_destroy_slot(a, &lists[l]->v[i]);
        lists[l]->n = 0;
    }
    pipeline_release(&a->pipeline);
    ring_release(&a->ring);
    a->base = g;
    g->refs++;
    const struct health_config *hn = &g->settings.health, *ho = &a->health.config;
    bool health_moved =
        hn->enabled != ho->enabled || strcmp(hn->address, ho->address ? ho->address : "") != 0;
    a->health.config.stuck_after_ns = hn->stuck_after_ns;
    health_reset_tracks(&a->health);
    agent_apply_logging(a);
    generation_unref(old); /* its exporters stopped with the pipeline */
    if (agent_start_export(a) != 0 || agent_start_collectors(a) != 0) {
        log_error(NULL, "cannot apply the new configuration; stopping");
        a->exit_code = 1;
        a->reloads_failed++;
        a->shutting_down = true;
        if (a->export_running) {
            agent_stop_all(a);
            return;
        }
        uv_walk(&a->export_loop, close_all_handles, NULL);
        uv_run(&a->export_loop, UV_RUN_DEFAULT);
        agent_close_collect_handles(a);
        return;
    }
    if (health_moved)
        health_close(&a->health, on_health_restarted, a);
    agent_start_summary(a);
    a->reloads_ok++;
    log_info(NULL, "reload applied: every plugin restarted (%zu collectors, %zu sinks)",
             a->active.n, g->settings.n_exporters);
    agent_notify("READY=1");
    if (a->reload_again) {
        a->reload_again = false;
        agent_reload(a);
    }
}

/* ---- run ----------------------------------------------------------------------------------- */

static int close_loop(uv_loop_t *loop, const char *name)
{
    /* Let pending close callbacks run, then the loop must have nothing left. */
    uv_run(loop, UV_RUN_DEFAULT);
    int r = uv_loop_close(loop);
    if (r != 0)
        log_error(NULL, "the %s loop did not close cleanly: %s", name, uv_strerror(r));
    return r;
}

int agent_run(const char *config_path)
{
    struct agent *a = calloc(1, sizeof(*a));
    if (!a) {
        log_error(NULL, "out of memory");
        return 1;
    }
    a->by_id = calloc(AGENT_MAX_IDS, sizeof(*a->by_id));
    a->log_fd = -1;
    a->config_path = config_path;
    int exit_code = 1;
    if (!a->by_id) {
        log_error(NULL, "out of memory");
        goto out_free;
    }
    a->base = generation_load(config_path);
    if (!a->base)
        goto out_free;
    a->base->refs = 1;
    health_init(&a->health, &(struct health_source){
                                .data = a,
                                .n_collectors = src_n_collectors,
                                .collector = src_collector,
                                .n_exporters = src_n_exporters,
                                .exporter = src_exporter,
                                .ring = src_ring,
                                .agent_counters = src_counters,
                                .config_path = config_path,
                            });

    agent_apply_logging(a);
    signal(SIGPIPE, SIG_IGN);
    http_global_init(); /* before any thread exists */
    agent_fetch_instance_meta(a, &a->base->settings);

    if (uv_loop_init(&a->collect_loop) != 0 || uv_loop_init(&a->export_loop) != 0) {
        log_error(NULL, "cannot create the event loops");
        goto out_settings;
    }
    /* Handles of both loops are created here, before the export thread runs. */
    int r = agent_start_collect_loop(a);
    if (r != 0) {
        log_error(NULL, "start-up failed: %s", uv_strerror(r));
        goto out_abort_loops;
    }
    const struct health_config *hc = &a->base->settings.health;
    r = health_start(&a->health, &a->collect_loop, hc);
    if (r != 0) {
        log_error(NULL,
                  "cannot serve the health endpoint on %s: %s (osprey.health.address; "
                  "\"enabled\": false turns it off)",
                  hc->address, uv_strerror(r));
        health_close(&a->health, NULL, NULL);
        goto out_abort_loops;
    }
    if (agent_start_export(a) != 0)
        goto out_abort_loops;

    log_info(NULL, "osprey %s started: %zu collectors, %zu sinks, ring %lld bytes", OSPREY_VERSION,
             a->base->settings.n_collectors, a->base->settings.n_exporters,
             (long long)a->base->settings.osprey.ring_bytes);
    if (hc->enabled)
        log_info(NULL, "health endpoint listening on %s (port %d)", hc->address,
                 health_port(&a->health));
    a->exit_code = 0;
    if (agent_start_collectors(a) != 0) {
        a->exit_code = 1;
        agent_begin_shutdown(a, SIGTERM);
    } else {
        agent_notify("READY=1"); /* Type=notify: start-up is complete */
    }

    uv_run(&a->collect_loop, UV_RUN_DEFAULT);
    agent_join_export(a);
    agent_log_summary(a, "final");
    exit_code = a->exit_code;
    if (close_loop(&a->export_loop, "export") != 0 || close_loop(&a->collect_loop, "collect") != 0)
        exit_code = 2;
    else
        log_info(NULL, "stopped cleanly");
    goto out_pipeline;

out_abort_loops:
    uv_walk(&a->collect_loop, close_all_handles, NULL);
    uv_walk(&a->export_loop, close_all_handles, NULL);
    agent_join_export(a);
    (void)close_loop(&a->export_loop, "export");
    (void)close_loop(&a->collect_loop, "collect");
out_pipeline:
    pipeline_release(&a->pipeline);
    ring_release(&a->ring);
out_settings : {
    struct slots *lists[] = {&a->active, &a->retiring, &a->pending};
    for (size_t l = 0; l < 3; l++) {
        for (size_t i = 0; i < lists[l]->n; i++)
            agent_destroy_slot(a, &lists[l]->v[i]);
        free(lists[l]->v);
    }
    generation_free(a->restart_to);
    generation_unref(a->base);
    health_release(&a->health);
    if (a->log_fd >= 0) {
        log_set_fd(2);
        close(a->log_fd);
    }
}
out_free:
    free(a->by_id);
    free(a);
    return exit_code;
}
