#include "agent/agent.h"

#include "agent/buf.h"
#include "agent/clock.h"
#include "agent/log.h"
#include "agent/pipeline.h"
#include "agent/ring.h"
#include "agent/settings.h"
#include "exporters/http.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <uv.h>

struct agent {
    struct settings settings;
    struct ring ring;
    struct pipeline pipeline;
    uv_loop_t collect_loop;
    uv_loop_t export_loop;
    uv_thread_t export_thread;
    uv_signal_t sigint;
    uv_signal_t sigterm;
    uv_timer_t summary;
    uv_async_t ack_wake;
    uv_async_t export_done;
    struct collect_output out;
    struct instance_meta instance;
    size_t collectors_running;
    bool shutting_down;
    int log_fd;
};

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

/* ---- summary --------------------------------------------------------------------- */

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
    for (size_t i = 0; i < a->settings.n_collectors; i++) {
        struct collector *c = a->settings.collectors[i];
        summary_append_stats(&b, c->name, &c->stats, false);
    }
    (void)buf_append_str(&b, " | delivered:");
    for (size_t i = 0; i < a->settings.n_exporters; i++) {
        struct exporter *e = a->settings.exporters[i];
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

/* ---- acks and shutdown ------------------------------------------------------------ */

static void agent_take_acks(struct agent *a)
{
    struct delivery_ack ack;
    while (pipeline_take_ack(&a->pipeline, &ack)) {
        if (ack.source < a->settings.n_collectors)
            collector_deliver_ack(a->settings.collectors[ack.source], &ack);
    }
    if (pipeline_take_space_freed(&a->pipeline)) {
        for (size_t i = 0; i < a->settings.n_collectors; i++)
            collector_space_available(a->settings.collectors[i]);
    }
}

static void on_ack_wake(uv_async_t *h)
{
    agent_take_acks(h->data);
}

static void on_export_done(uv_async_t *h)
{
    struct agent *a = h->data;
    agent_take_acks(a);
    uv_close((uv_handle_t *)&a->ack_wake, NULL);
    uv_close((uv_handle_t *)&a->export_done, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->summary, NULL);
}

static void on_pipeline_done(struct pipeline *p, void *data)
{
    struct agent *a = data;
    (void)p;
    /* Runs on the export loop: hand over to the collect loop. */
    uv_async_send(&a->export_done);
}

static void on_collector_stopped(struct collector *c, void *data)
{
    struct agent *a = data;
    (void)c;
    if (a->collectors_running > 0 && --a->collectors_running == 0)
        pipeline_close_input(&a->pipeline);
}

static void agent_begin_shutdown(struct agent *a, int signum)
{
    if (a->shutting_down) {
        log_warn(NULL, "already stopping (deadline %llu ms)",
                 (unsigned long long)(a->settings.osprey.shutdown_deadline_ns / NS_PER_MS));
        return;
    }
    a->shutting_down = true;
    log_info(NULL, "received %s, stopping", strsignal(signum));
    uv_timer_stop(&a->summary);
    size_t n = a->settings.n_collectors;
    if (n == 0) {
        pipeline_close_input(&a->pipeline);
        return;
    }
    a->collectors_running = n;
    for (size_t i = 0; i < n; i++) {
        struct collector *c = a->settings.collectors[i];
        int r = collector_flush(c);
        if (r != 0)
            log_warn(c->name, "flush at shutdown failed: %s", strerror(-r));
        collector_stop(c, on_collector_stopped, a);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    agent_begin_shutdown(h->data, signum);
}

static void export_thread_main(void *arg)
{
    struct agent *a = arg;
    uv_run(&a->export_loop, UV_RUN_DEFAULT);
}

/* ---- start-up --------------------------------------------------------------------- */

static void agent_apply_logging(struct agent *a)
{
    struct settings *s = &a->settings;
    enum log_level level = (enum log_level)s->osprey.log_level;
    if (s->agent.debug)
        level = LOG_LEVEL_DEBUG;
    if (s->agent.quiet)
        level = LOG_LEVEL_ERROR;
    log_set_level(level);
    a->log_fd = -1;
    if (s->agent.logfile) {
        a->log_fd = open(s->agent.logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (a->log_fd < 0)
            log_warn(NULL, "cannot open logfile '%s': %s, logging to stderr", s->agent.logfile,
                     strerror(errno));
        else
            log_set_fd(a->log_fd);
    }
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
    uv_signal_init(loop, &a->sigint);
    uv_signal_init(loop, &a->sigterm);
    a->sigint.data = a;
    a->sigterm.data = a;
    uv_signal_start(&a->sigint, on_signal, SIGINT);
    uv_signal_start(&a->sigterm, on_signal, SIGTERM);
    uv_timer_init(loop, &a->summary);
    a->summary.data = a;
    uint64_t summary_ms = a->settings.osprey.summary_interval_ns / NS_PER_MS;
    if (summary_ms)
        uv_timer_start(&a->summary, on_summary, summary_ms, summary_ms);
    return 0;
}

static int agent_start_collectors(struct agent *a)
{
    a->out.ring = &a->ring;
    a->out.wake = &a->pipeline.wake;
    for (size_t i = 0; i < a->settings.n_collectors; i++) {
        struct collector *c = a->settings.collectors[i];
        int r = collector_start(c, &a->collect_loop, &a->out);
        if (r != 0) {
            log_error(c->name, "cannot start: %s", uv_strerror(r < 0 ? r : -r));
            return r;
        }
    }
    return 0;
}

static int close_loop(uv_loop_t *loop, const char *name)
{
    /* Let pending close callbacks run, then the loop must have nothing left. */
    uv_run(loop, UV_RUN_DEFAULT);
    int r = uv_loop_close(loop);
    if (r != 0)
        log_error(NULL, "the %s loop did not close cleanly: %s", name, uv_strerror(r));
    return r;
}

static void close_all_handles(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* ${aws:...} dimension values come from EC2 instance metadata, asked once at start. Off
 * EC2 (or with IMDS off) the metrics are published without them, as the CloudWatch agent
 * does; the log says so once. */
static void agent_fetch_instance_meta(struct agent *a)
{
    struct settings *s = &a->settings;
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
    s->env.instance = &a->instance;
}

int agent_run(const char *config_path)
{
    struct agent *a = calloc(1, sizeof(*a));
    if (!a) {
        log_error(NULL, "out of memory");
        return 1;
    }
    int exit_code = 1;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    int r = settings_load(&a->settings, config_path, &errs);
    for (size_t i = 0; i < errs.n; i++)
        log_error(NULL, "%s", errs.msgs[i]);
    cfg_errors_release(&errs);
    if (r != 0)
        goto out_free;

    agent_apply_logging(a);
    signal(SIGPIPE, SIG_IGN);
    http_global_init(); /* before any thread exists */
    agent_fetch_instance_meta(a);

    r = ring_init(&a->ring, (size_t)a->settings.osprey.ring_bytes);
    if (r != 0) {
        log_error(NULL, "cannot allocate the ring: %s", strerror(-r));
        goto out_settings;
    }
    r = pipeline_init(&a->pipeline, &a->ring, a->settings.exporters, a->settings.n_exporters,
                      a->settings.osprey.flush_interval_ns,
                      a->settings.osprey.shutdown_deadline_ns);
    if (r != 0) {
        log_error(NULL, "cannot set up the pipeline: %s", strerror(-r));
        goto out_ring;
    }
    pipeline_set_credentials_options(&a->pipeline, &a->settings.creds_opts);
    if (uv_loop_init(&a->collect_loop) != 0 || uv_loop_init(&a->export_loop) != 0) {
        log_error(NULL, "cannot create the event loops");
        goto out_pipeline;
    }

    /* Handles of both loops are created here, before the export thread runs. */
    r = agent_start_collect_loop(a);
    if (r == 0)
        r = pipeline_start(&a->pipeline, &a->export_loop, &a->ack_wake, on_pipeline_done, a);
    if (r != 0) {
        log_error(NULL, "start-up failed: %s", uv_strerror(r));
        goto out_abort_loops;
    }
    r = uv_thread_create(&a->export_thread, export_thread_main, a);
    if (r != 0) {
        log_error(NULL, "cannot start the export thread: %s", uv_strerror(r));
        goto out_abort_loops;
    }

    log_info(NULL, "osprey %s started: %zu collectors, %zu sinks, ring %lld bytes", OSPREY_VERSION,
             a->settings.n_collectors, a->settings.n_exporters,
             (long long)a->settings.osprey.ring_bytes);
    exit_code = 0;
    if (agent_start_collectors(a) != 0) {
        exit_code = 1;
        agent_begin_shutdown(a, SIGTERM);
    }

    uv_run(&a->collect_loop, UV_RUN_DEFAULT);
    uv_thread_join(&a->export_thread);
    agent_log_summary(a, "final");
    if (close_loop(&a->export_loop, "export") != 0 || close_loop(&a->collect_loop, "collect") != 0)
        exit_code = 2;
    else
        log_info(NULL, "stopped cleanly");
    goto out_pipeline;

out_abort_loops:
    uv_walk(&a->collect_loop, close_all_handles, NULL);
    uv_walk(&a->export_loop, close_all_handles, NULL);
    (void)close_loop(&a->export_loop, "export");
    (void)close_loop(&a->collect_loop, "collect");
out_pipeline:
    pipeline_release(&a->pipeline);
out_ring:
    ring_release(&a->ring);
out_settings:
    settings_release(&a->settings);
    if (a->log_fd >= 0) {
        log_set_fd(2);
        close(a->log_fd);
    }
out_free:
    free(a);
    return exit_code;
}
