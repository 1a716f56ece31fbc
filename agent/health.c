#include "agent/health.h"

#include "agent/clock.h"
#include "agent/httpd.h"
#include "agent/log.h"
#include "agent/ring.h"
#include "agent/selfstats.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEALTH_CHECK_MS         1000
#define HEALTH_SAMPLE_MS        250
#define HEALTH_MAX_ANSWER_BYTES (4u * 1024u * 1024u)

const struct cfg_field health_fields[] = {
    {"enabled", CFG_BOOL, offsetof(struct health_config, enabled), "true", 0, 0, NULL, 0,
     "serve /healthz, /metrics and /status (false: no listener at all)"},
    {"address", CFG_STRING, offsetof(struct health_config, address), HEALTH_DEFAULT_ADDRESS, 0, 0,
     NULL, 0, "host:port of the health endpoint (loopback by default; \"[::1]:2021\" for IPv6)"},
    {"stuck_after", CFG_SECONDS, offsetof(struct health_config, stuck_after_ns), "180", 1, 86400,
     NULL, 0,
     "seconds a sink may hold data without delivering any before /healthz answers 503 "
     "(keep it above the longest force_flush_interval)"},
    CFG_END,
};

/* ---- pure layer ---------------------------------------------------------------------- */

bool health_track_update(struct health_track *t, uint64_t progress, bool waiting, uint64_t now_ns,
                         uint64_t stuck_after_ns)
{
    if (!t->started || progress != t->last_progress || !waiting) {
        t->started = true;
        t->last_progress = progress;
        t->since_ns = now_ns;
    }
    t->stalled_ns = now_ns > t->since_ns ? now_ns - t->since_ns : 0;
    t->stuck = waiting && t->stalled_ns >= stuck_after_ns;
    return t->stuck;
}

int health_reason_format(struct buf *b, const char *exporter, uint64_t stalled_ns,
                         uint64_t backlog_records)
{
    return buf_printf(b,
                      "exporter %s: no acknowledged records for %llu s while data waits "
                      "(%llu records taken and not yet delivered)\n",
                      exporter, (unsigned long long)(stalled_ns / NS_PER_SEC),
                      (unsigned long long)backlog_records);
}

bool prom_name_valid(const char *name, bool label)
{
    if (!name || !name[0])
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (!label && c == ':') || (p != name && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static int prom_escape(struct buf *b, const char *s, bool quote)
{
    int r = 0;
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '\\':
            r |= buf_append_str(b, "\\\\");
            break;
        case '\n':
            r |= buf_append_str(b, "\\n");
            break;
        case '"':
            r |= buf_append_str(b, quote ? "\\\"" : "\"");
            break;
        default:
            r |= buf_append(b, p, 1);
        }
    }
    return r;
}

int prom_escape_label_value(struct buf *b, const char *value)
{
    return prom_escape(b, value ? value : "", true);
}

int prom_escape_help(struct buf *b, const char *help)
{
    return prom_escape(b, help ? help : "", false);
}

static void prom_fail(struct prom_text *p, int err)
{
    if (!p->error)
        p->error = err;
}

void prom_family(struct prom_text *p, const char *name, const char *type, const char *help)
{
    if (!prom_name_valid(name, false)) {
        prom_fail(p, -EINVAL);
        return;
    }
    int r = buf_printf(p->out, "# HELP %s ", name);
    r |= prom_escape_help(p->out, help);
    r |= buf_printf(p->out, "\n# TYPE %s %s\n", name, type);
    if (r != 0)
        prom_fail(p, -ENOMEM);
}

static int prom_value(struct buf *b, double v)
{
    if (isnan(v))
        return buf_append_str(b, "NaN");
    if (isinf(v))
        return buf_append_str(b, v > 0 ? "+Inf" : "-Inf");
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return buf_printf(b, "%.0f", v);
    return buf_printf(b, "%.17g", v);
}

void prom_sample(struct prom_text *p, const char *name, const char *const *labels, double value)
{
    if (!prom_name_valid(name, false)) {
        prom_fail(p, -EINVAL);
        return;
    }
    size_t before = p->out->len;
    int r = buf_append_str(p->out, name);
    if (labels && labels[0]) {
        r |= buf_append_str(p->out, "{");
        for (size_t i = 0; labels[i] && labels[i + 1]; i += 2) {
            if (!prom_name_valid(labels[i], true)) {
                prom_fail(p, -EINVAL);
                p->out->len = before;
                return;
            }
            r |= buf_printf(p->out, "%s%s=\"", i ? "," : "", labels[i]);
            r |= prom_escape_label_value(p->out, labels[i + 1]);
            r |= buf_append_str(p->out, "\"");
        }
        r |= buf_append_str(p->out, "}");
    }
    r |= buf_append_str(p->out, " ");
    r |= prom_value(p->out, value);
    r |= buf_append_str(p->out, "\n");
    if (r != 0)
        prom_fail(p, -ENOMEM);
}

/* ---- the metrics ---------------------------------------------------------------------- */

/* One plugin's stats, whichever side it is on. */
struct plugin_view {
    const char *name;
    const char *kind; /* "collector" or "exporter" */
    struct selfstats *stats;
};

static struct plugin_view *plugin_views(struct health *h, size_t *ret_n)
{
    size_t nc = h->src.n_collectors(h->src.data), ne = h->src.n_exporters(h->src.data);
    struct plugin_view *v = calloc(nc + ne + 1, sizeof(*v));
    size_t n = 0;
    if (v) {
        for (size_t i = 0; i < nc; i++) {
            struct collector *c = h->src.collector(h->src.data, i);
            v[n++] = (struct plugin_view){c->name, "collector", &c->stats};
        }
        for (size_t i = 0; i < ne; i++) {
            struct exporter *e = h->src.exporter(h->src.data, i);
            v[n++] = (struct plugin_view){e->name, "exporter", &e->stats};
        }
    }
    *ret_n = n;
    return v;
}

/* A counter family with one sample per plugin (`side` NULL = both kinds). */
static void family_per_plugin(struct prom_text *p, const struct plugin_view *v, size_t n,
                              const char *name, const char *help, size_t offset, const char *side)
{
    prom_family(p, name, "counter", help);
    for (size_t i = 0; i < n; i++) {
        if (side && strcmp(v[i].kind, side) != 0)
            continue;
        _Atomic uint64_t *counter = (_Atomic uint64_t *)((char *)v[i].stats + offset);
        const char *labels[] = {"plugin", v[i].name, "kind", v[i].kind, NULL};
        prom_sample(p, name, labels, (double)selfstats_get(counter));
    }
}

/* Collector self-metrics, gathered first so that each family is written once. */
struct self_metric {
    char *name;
    char *label;
    char *label_value;
    const char *plugin;
    double value;
    size_t order;
};

struct self_metrics {
    struct self_metric *v;
    size_t n, cap;
    const char *plugin;
    bool oom;
};

/* Families the agent writes itself: a collector may not reuse them. */
static const char *const builtin_families[] = {
    "build_info",
    "start_time_seconds",
    "uptime_seconds",
    "records_in_total",
    "records_out_total",
    "bytes_in_total",
    "bytes_out_total",
    "errors_total",
    "source_paused_total",
    "batches_total",
    "retries_total",
    "dropped_total",
    "rejected_total",
    "ring_used_bytes",
    "ring_capacity_bytes",
    "ring_high_water_bytes",
    "acks_lost_total",
    "records_unrouted_total",
    "records_undecodable_total",
    "reloads_total",
    "exporter_stuck",
    "exporter_stalled_seconds",
    NULL,
};

static void on_self_metric(void *user, const char *name, const char *label, const char *label_value,
                           double value)
{
    struct self_metrics *m = user;
    if (!prom_name_valid(name, false) || (label && !prom_name_valid(label, true)) ||
        (label && strcmp(label, "plugin") == 0))
        return; /* a plugin bug; never break the whole page for it */
    for (size_t i = 0; builtin_families[i]; i++)
        if (strcmp(name, builtin_families[i]) == 0)
            return;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 32;
        struct self_metric *grown = realloc(m->v, cap * sizeof(*grown));
        if (!grown) {
            m->oom = true;
            return;
        }
        m->v = grown;
        m->cap = cap;
    }
    struct self_metric *s = &m->v[m->n];
    *s = (struct self_metric){.name = strdup(name),
                              .label = label ? strdup(label) : NULL,
                              .label_value = strdup(label_value ? label_value : ""),
                              .plugin = m->plugin,
                              .value = value,
                              .order = m->n};
    if (!s->name || (label && !s->label) || !s->label_value) {
        free(s->name);
        free(s->label);
        free(s->label_value);
        m->oom = true;
        return;
    }
    m->n++;
}

static int self_metric_cmp(const void *a, const void *b)
{
    const struct self_metric *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void self_metrics_render(struct health *h, struct prom_text *p)
{
    struct self_metrics m = {0};
    size_t nc = h->src.n_collectors(h->src.data);
    for (size_t i = 0; i < nc; i++) {
        struct collector *c = h->src.collector(h->src.data, i);
        m.plugin = c->name;
        collector_self_metrics(c, on_self_metric, &m);
    }
    if (m.oom)
        prom_fail(p, -ENOMEM);
    if (m.n)
        qsort(m.v, m.n, sizeof(*m.v), self_metric_cmp);
    char full[256];
    for (size_t i = 0; i < m.n; i++) {
        struct self_metric *s = &m.v[i];
        snprintf(full, sizeof(full), "osprey_%s", s->name);
        if (i == 0 || strcmp(m.v[i - 1].name, s->name) != 0) {
            size_t len = strlen(s->name);
            bool counter = len > 6 && strcmp(s->name + len - 6, "_total") == 0;
            char help[300];
            snprintf(help, sizeof(help), "collector self-metric %s", s->name);
            prom_family(p, full, counter ? "counter" : "gauge", help);
        }
        const char *labels[] = {"plugin", s->plugin, s->label, s->label_value, NULL};
        if (!s->label)
            labels[2] = NULL;
        prom_sample(p, full, labels, s->value);
    }
    for (size_t i = 0; i < m.n; i++) {
        free(m.v[i].name);
        free(m.v[i].label);
        free(m.v[i].label_value);
    }
    free(m.v);
}

static void sample_plugin(struct prom_text *p, const char *name, const struct plugin_view *v,
                          const char *extra_label, const char *extra_value, double value)
{
    const char *labels[] = {"plugin", v->name, "kind", v->kind, extra_label, extra_value, NULL};
    prom_sample(p, name, labels, value);
}

int health_render_metrics(struct health *h, struct buf *out)
{
    struct prom_text p = {.out = out};
    size_t n;
    struct plugin_view *v = plugin_views(h, &n);
    if (!v)
        return -ENOMEM;

    prom_family(&p, "osprey_build_info", "gauge", "Osprey version (the value is always 1)");
    prom_sample(&p, "osprey_build_info", (const char *[]){"version", OSPREY_VERSION, NULL}, 1);
    prom_family(&p, "osprey_start_time_seconds", "gauge", "start time, seconds since the epoch");
    prom_sample(&p, "osprey_start_time_seconds", NULL, (double)(h->started_ns / NS_PER_SEC));
    prom_family(&p, "osprey_uptime_seconds", "gauge", "seconds since start");
    prom_sample(&p, "osprey_uptime_seconds", NULL,
                (double)(clock_monotonic_ns() - h->started_mono_ns) / 1e9);

    family_per_plugin(&p, v, n, "osprey_records_in_total",
                      "records a collector produced or an exporter took",
                      offsetof(struct selfstats, records_in), NULL);
    family_per_plugin(&p, v, n, "osprey_records_out_total",
                      "records a collector put in the ring or an exporter delivered",
                      offsetof(struct selfstats, records_out), NULL);
    family_per_plugin(&p, v, n, "osprey_bytes_in_total", "bytes read or taken",
                      offsetof(struct selfstats, bytes_in), NULL);
    family_per_plugin(&p, v, n, "osprey_bytes_out_total", "bytes written or sent",
                      offsetof(struct selfstats, bytes_out), NULL);
    family_per_plugin(&p, v, n, "osprey_errors_total", "errors (I/O, requests)",
                      offsetof(struct selfstats, errors), NULL);
    family_per_plugin(&p, v, n, "osprey_source_paused_total",
                      "times a source paused for lack of ring space",
                      offsetof(struct selfstats, paused), "collector");
    family_per_plugin(&p, v, n, "osprey_retries_total", "requests retried",
                      offsetof(struct selfstats, retries), "exporter");

    prom_family(&p, "osprey_batches_total", "counter", "batches sent, by result");
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].kind, "exporter") != 0)
            continue;
        sample_plugin(&p, "osprey_batches_total", &v[i], "result", "ok",
                      (double)selfstats_get(&v[i].stats->batches_ok));
        sample_plugin(&p, "osprey_batches_total", &v[i], "result", "failed",
                      (double)selfstats_get(&v[i].stats->batches_failed));
    }

    prom_family(&p, "osprey_dropped_total", "counter",
                "records not passed on, by reason (every drop is counted under one reason)");
    for (size_t i = 0; i < n; i++)
        for (int r = 0; r < DROP_REASON_MAX; r++)
            sample_plugin(&p, "osprey_dropped_total", &v[i], "reason",
                          selfstats_drop_name((enum selfstats_drop)r),
                          (double)selfstats_get(&v[i].stats->dropped[r]));

    prom_family(&p, "osprey_rejected_total", "counter",
                "inputs a plugin refused, by the plugin's own finer reason");
    for (size_t i = 0; i < n; i++) {
        const char *const *names = v[i].stats->reject_names;
        for (unsigned j = 0; names && j < SELFSTATS_REJECT_MAX && names[j]; j++)
            sample_plugin(&p, "osprey_rejected_total", &v[i], "reason", names[j],
                          (double)selfstats_get(&v[i].stats->rejects[j]));
    }

    struct ring *ring = h->src.ring(h->src.data);
    prom_family(&p, "osprey_ring_used_bytes", "gauge",
                "bytes queued between collectors and exporters");
    prom_sample(&p, "osprey_ring_used_bytes", NULL, (double)ring_used_bytes(ring));
    prom_family(&p, "osprey_ring_capacity_bytes", "gauge", "size of the ring");
    prom_sample(&p, "osprey_ring_capacity_bytes", NULL, (double)ring_capacity(ring));
    prom_family(&p, "osprey_ring_high_water_bytes", "gauge", "the ring's highest fill so far");
    prom_sample(&p, "osprey_ring_high_water_bytes", NULL, (double)ring_high_water_bytes(ring));

    uint64_t lost = 0, unrouted = 0, undecodable = 0, reloads_ok = 0, reloads_failed = 0;
    h->src.agent_counters(h->src.data, &lost, &unrouted, &undecodable, &reloads_ok,
                          &reloads_failed);
    prom_family(&p, "osprey_acks_lost_total", "counter",
                "delivery acks lost because the ack queue was full (sources re-read: "
                "duplicates, not losses)");
    prom_sample(&p, "osprey_acks_lost_total", NULL, (double)lost);
    prom_family(&p, "osprey_records_unrouted_total", "counter",
                "records no sink takes (their kind has no destination)");
    prom_sample(&p, "osprey_records_unrouted_total", NULL, (double)unrouted);
    prom_family(&p, "osprey_records_undecodable_total", "counter",
                "records the export side could not decode (a bug)");
    prom_sample(&p, "osprey_records_undecodable_total", NULL, (double)undecodable);
    prom_family(&p, "osprey_reloads_total", "counter", "configuration reloads (SIGHUP) by result");
    prom_sample(&p, "osprey_reloads_total", (const char *[]){"result", "applied", NULL},
                (double)reloads_ok);
    prom_sample(&p, "osprey_reloads_total", (const char *[]){"result", "rejected", NULL},
                (double)reloads_failed);

    prom_family(&p, "osprey_exporter_stuck", "gauge",
                "1 when the sink holds data and delivered nothing for stuck_after seconds");
    for (size_t i = 0; i < h->n_tracked; i++)
        prom_sample(&p, "osprey_exporter_stuck",
                    (const char *[]){"plugin", h->tracked_names[i], NULL},
                    h->tracks[i].stuck ? 1 : 0);
    prom_family(&p, "osprey_exporter_stalled_seconds", "gauge",
                "seconds the sink has held data without delivering any (0 when idle or moving)");
    for (size_t i = 0; i < h->n_tracked; i++)
        prom_sample(&p, "osprey_exporter_stalled_seconds",
                    (const char *[]){"plugin", h->tracked_names[i], NULL},
                    (double)h->tracks[i].stalled_ns / 1e9);

    self_metrics_render(h, &p);
    free(v);
    return p.error;
}

/* ---- /status ------------------------------------------------------------------------- */

static const char *state_name(enum plugin_state s)
{
    switch (s) {
    case PLUGIN_CREATED:
        return "created";
    case PLUGIN_INITED:
        return "inited";
    case PLUGIN_STARTED:
        return "running";
    case PLUGIN_STOPPING:
        return "stopping";
    case PLUGIN_STOPPED:
        return "stopped";
    }
    return "unknown";
}

static int set_count(json_t *o, const char *key, uint64_t v)
{
    return json_object_set_new(o, key, json_integer((json_int_t)v));
}

static json_t *stats_json(struct selfstats *st)
{
    json_t *o = json_object(), *dropped = json_object();
    int r = !o || !dropped;
    if (!r) {
        r |= set_count(o, "records_in", selfstats_get(&st->records_in));
        r |= set_count(o, "records_out", selfstats_get(&st->records_out));
        r |= set_count(o, "bytes_in", selfstats_get(&st->bytes_in));
        r |= set_count(o, "bytes_out", selfstats_get(&st->bytes_out));
        r |= set_count(o, "errors", selfstats_get(&st->errors));
        r |= set_count(o, "paused", selfstats_get(&st->paused));
        r |= set_count(o, "batches_ok", selfstats_get(&st->batches_ok));
        r |= set_count(o, "batches_failed", selfstats_get(&st->batches_failed));
        r |= set_count(o, "retries", selfstats_get(&st->retries));
        for (int i = 0; i < DROP_REASON_MAX; i++)
            r |= set_count(dropped, selfstats_drop_name((enum selfstats_drop)i),
                           selfstats_get(&st->dropped[i]));
    }
    if (r) {
        json_decref(o);
        json_decref(dropped);
        return NULL;
    }
    json_t *rejected = json_object();
    for (unsigned j = 0;
         rejected && st->reject_names && j < SELFSTATS_REJECT_MAX && st->reject_names[j]; j++)
        r |= set_count(rejected, st->reject_names[j], selfstats_get(&st->rejects[j]));
    r |= json_object_set_new(o, "dropped", dropped);
    r |= json_object_set_new(o, "rejected", rejected);
    if (r) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int health_render_status(struct health *h, struct buf *out)
{
    int r = 0;
    json_t *root = json_object(), *cols = json_array(), *exps = json_array(),
           *ring_o = json_object();
    if (!root || !cols || !exps || !ring_o) {
        json_decref(root);
        json_decref(cols);
        json_decref(exps);
        json_decref(ring_o);
        return -ENOMEM;
    }
    /* root takes the containers at once, so every error path below frees one tree. */
    r |= json_object_set_new(root, "collectors", cols);
    r |= json_object_set_new(root, "exporters", exps);
    r |= json_object_set_new(root, "ring", ring_o);
    r |= json_object_set_new(root, "version", json_string(OSPREY_VERSION));
    r |= json_object_set_new(root, "uptime_seconds",
                             json_real((double)(clock_monotonic_ns() - h->started_mono_ns) / 1e9));
    r |= json_object_set_new(root, "config",
                             h->src.config_path ? json_string(h->src.config_path) : json_null());
    size_t nc = h->src.n_collectors(h->src.data);
    for (size_t i = 0; i < nc && !r; i++) {
        struct collector *c = h->src.collector(h->src.data, i);
        json_t *o = stats_json(&c->stats);
        r |= json_array_append_new(cols, o);
        if (r)
            break;
        r |= json_object_set_new(o, "name", json_string(c->name));
        r |= json_object_set_new(o, "type", json_string(c->type->name));
        r |= json_object_set_new(o, "id", json_integer(c->id));
        r |= json_object_set_new(o, "state", json_string(state_name(c->state)));
    }
    size_t ne = h->src.n_exporters(h->src.data);
    for (size_t i = 0; i < ne && !r; i++) {
        struct exporter *e = h->src.exporter(h->src.data, i);
        json_t *o = stats_json(&e->stats);
        r |= json_array_append_new(exps, o);
        if (r)
            break;
        r |= json_object_set_new(o, "name", json_string(e->name));
        r |= json_object_set_new(o, "type", json_string(e->type->name));
        r |= json_object_set_new(o, "state", json_string(state_name(e->state)));
        if (i < h->n_tracked && strcmp(h->tracked_names[i], e->name) == 0) {
            r |= json_object_set_new(o, "stuck", json_boolean(h->tracks[i].stuck));
            r |= json_object_set_new(o, "stalled_seconds",
                                     json_real((double)h->tracks[i].stalled_ns / 1e9));
        }
    }
    struct ring *ring = h->src.ring(h->src.data);
    r |= set_count(ring_o, "used_bytes", ring_used_bytes(ring));
    r |= set_count(ring_o, "capacity_bytes", ring_capacity(ring));
    r |= set_count(ring_o, "high_water_bytes", ring_high_water_bytes(ring));
    uint64_t lost = 0, unrouted = 0, undecodable = 0, reloads_ok = 0, reloads_failed = 0;
    h->src.agent_counters(h->src.data, &lost, &unrouted, &undecodable, &reloads_ok,
                          &reloads_failed);
    r |= set_count(root, "acks_lost", lost);
    r |= set_count(root, "records_unrouted", unrouted);
    r |= set_count(root, "records_undecodable", undecodable);
    r |= json_object_set_new(root, "reloads",
                             json_pack("{sIsI}", "applied", (json_int_t)reloads_ok, "rejected",
                                       (json_int_t)reloads_failed));
    bool healthy = true;
    for (size_t i = 0; i < h->n_tracked; i++)
        healthy = healthy && !h->tracks[i].stuck;
    r |= json_object_set_new(root, "healthy", json_boolean(healthy));
    char *text = r ? NULL : json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        return -ENOMEM;
    int ret = buf_append_str(out, text);
    if (ret == 0)
        ret = buf_append_str(out, "\n");
    free(text);
    return ret;
}

int health_render_healthz(struct health *h, struct buf *out)
{
    size_t ne = h->src.n_exporters(h->src.data);
    int status = 200;
    for (size_t i = 0; i < h->n_tracked && i < ne; i++) {
        if (!h->tracks[i].stuck)
            continue;
        struct selfstats *st = &h->src.exporter(h->src.data, i)->stats;
        uint64_t in = selfstats_get(&st->records_in);
        uint64_t done = selfstats_get(&st->records_out) + selfstats_dropped_total(st);
        status = 503;
        if (health_reason_format(out, h->tracked_names[i], h->tracks[i].stalled_ns,
                                 in > done ? in - done : 0) != 0)
            return -ENOMEM;
    }
    if (status == 200 && buf_append_str(out, "ok\n") != 0)
        return -ENOMEM;
    return status;
}

/* ---- the decision, on the collect loop ----------------------------------------------- */

static void health_check_now(struct health *h)
{
    size_t ne = h->src.n_exporters(h->src.data);
    if (ne > HEALTH_MAX_EXPORTERS)
        ne = HEALTH_MAX_EXPORTERS;
    bool valid = atomic_load_explicit(&h->samples, memory_order_acquire) > 0;
    uint64_t now = clock_monotonic_ns();
    for (size_t i = 0; i < ne; i++) {
        struct exporter *e = h->src.exporter(h->src.data, i);
        if (i >= h->n_tracked || strcmp(h->tracked_names[i], e->name) != 0) {
            memset(&h->tracks[i], 0, sizeof(h->tracks[i]));
            snprintf(h->tracked_names[i], sizeof(h->tracked_names[i]), "%s", e->name);
        }
        bool busy = valid && atomic_load_explicit(&h->busy[i], memory_order_relaxed);
        bool was = h->tracks[i].stuck;
        bool stuck = health_track_update(&h->tracks[i], selfstats_get(&e->stats.records_out), busy,
                                         now, h->config.stuck_after_ns);
        if (stuck && !was)
            log_warn(e->name, "stuck: holding data and nothing delivered for %llu s",
                     (unsigned long long)(h->tracks[i].stalled_ns / NS_PER_SEC));
        else if (!stuck && was)
            log_info(e->name, "no longer stuck: /healthz reports it healthy again");
    }
    h->n_tracked = ne;
}

static void on_check(uv_timer_t *t)
{
    health_check_now(t->data);
}

void health_reset_tracks(struct health *h)
{
    h->n_tracked = 0;
    memset(h->tracks, 0, sizeof(h->tracks));
    atomic_store(&h->samples, 0);
}

/* ---- the export-loop sampler --------------------------------------------------------- */

static void on_sample(uv_timer_t *t)
{
    struct health *h = t->data;
    for (size_t i = 0; i < h->n_sampled; i++)
        atomic_store_explicit(&h->busy[i], !exporter_idle(h->sampled[i]), memory_order_relaxed);
    atomic_fetch_add_explicit(&h->samples, 1, memory_order_release);
}

int health_export_start(struct health *h, uv_loop_t *export_loop, struct exporter **exporters,
                        size_t n)
{
    h->sampled = exporters;
    h->n_sampled = n < HEALTH_MAX_EXPORTERS ? n : HEALTH_MAX_EXPORTERS;
    for (size_t i = 0; i < HEALTH_MAX_EXPORTERS; i++)
        atomic_store(&h->busy[i], false);
    atomic_store(&h->samples, 0);
    int r = uv_timer_init(export_loop, &h->sampler);
    if (r != 0)
        return r;
    h->sampler.data = h;
    h->sampler_open = true;
    return uv_timer_start(&h->sampler, on_sample, HEALTH_SAMPLE_MS, HEALTH_SAMPLE_MS);
}

static void on_sampler_closed(uv_handle_t *handle)
{
    struct health *h = handle->data;
    h->sampler_open = false;
}

void health_export_close(struct health *h)
{
    if (!h->sampler_open || uv_is_closing((uv_handle_t *)&h->sampler))
        return;
    uv_close((uv_handle_t *)&h->sampler, on_sampler_closed);
}

/* ---- the server ---------------------------------------------------------------------- */

static void answer(struct httpd_conn *conn, int status, const char *type, const struct buf *body,
                   const struct httpd_response_header *extra)
{
    struct httpd_response_header hdr[3] = {{"Content-Type", type}, {"Cache-Control", "no-store"}};
    size_t n = 2;
    if (extra)
        hdr[n++] = *extra;
    (void)httpd_respond(conn, status, hdr, n, body->data, body->len, false);
}

static void on_request(struct httpd_conn *conn, const struct httpd_request *req, void *data)
{
    struct health *h = data;
    struct buf body;
    buf_init(&body, HEALTH_MAX_ANSWER_BYTES);
    const char *text = "text/plain; charset=utf-8";
    bool healthz = httpd_str_eq(req->path, "/healthz");
    bool metrics = httpd_str_eq(req->path, "/metrics");
    bool status = httpd_str_eq(req->path, "/status");
    if (!healthz && !metrics && !status) {
        (void)buf_append_str(&body, "not found: try /healthz, /metrics or /status\n");
        answer(conn, 404, text, &body, NULL);
    } else if (!httpd_str_eq(req->method, "GET")) {
        (void)buf_append_str(&body, "method not allowed: GET only\n");
        struct httpd_response_header allow = {"Allow", "GET"};
        answer(conn, 405, text, &body, &allow);
    } else if (healthz) {
        int code = health_render_healthz(h, &body);
        answer(conn, code < 0 ? 500 : code, text, &body, NULL);
    } else {
        int r = metrics ? health_render_metrics(h, &body) : health_render_status(h, &body);
        if (r != 0) {
            buf_reset(&body);
            (void)buf_printf(&body, "cannot render the answer: %s\n", strerror(-r));
            answer(conn, 500, text, &body, NULL);
        } else {
            answer(conn, 200,
                   metrics ? "text/plain; version=0.0.4; charset=utf-8" : "application/json", &body,
                   NULL);
        }
    }
    buf_release(&body);
}

void health_init(struct health *h, const struct health_source *src)
{
    memset(h, 0, sizeof(*h));
    h->src = *src;
    h->started_ns = clock_realtime_ns();
    h->started_mono_ns = clock_monotonic_ns();
    for (size_t i = 0; i < HEALTH_MAX_EXPORTERS; i++)
        atomic_init(&h->busy[i], false);
    atomic_init(&h->samples, 0);
}

static void health_handle_done(struct health *h)
{
    if (--h->open_handles == 0 && h->on_closed)
        h->on_closed(h->on_closed_data);
}

static void on_check_closed(uv_handle_t *handle)
{
    struct health *h = handle->data;
    h->check_open = false;
    health_handle_done(h);
}

static void on_httpd_closed(void *data)
{
    struct health *h = data;
    h->httpd = NULL;
    health_handle_done(h);
}

int health_start(struct health *h, uv_loop_t *loop, const struct health_config *cfg)
{
    free(h->config.address);
    h->config = *cfg;
    h->config.address = strdup(cfg->address ? cfg->address : HEALTH_DEFAULT_ADDRESS);
    h->closing = false;
    h->on_closed = NULL;
    if (!h->config.address)
        return -ENOMEM;
    if (!h->config.enabled)
        return 0;
    h->loop = loop;
    struct httpd_options o;
    httpd_options_default(&o);
    o.limits.max_body_bytes = 0;
    o.max_connections = 16;
    o.server_name = "osprey";
    int r = httpd_create(loop, &o, on_request, h, &h->httpd);
    if (r != 0)
        return r;
    h->open_handles++;
    r = httpd_listen(h->httpd, h->config.address);
    if (r != 0)
        return r; /* the caller closes */
    r = uv_timer_init(loop, &h->check);
    if (r != 0)
        return r;
    h->check.data = h;
    h->check_open = true;
    h->open_handles++;
    return uv_timer_start(&h->check, on_check, HEALTH_CHECK_MS, HEALTH_CHECK_MS);
}

int health_port(const struct health *h)
{
    return h->httpd ? httpd_port(h->httpd) : 0;
}

void health_close(struct health *h, void (*on_closed)(void *data), void *data)
{
    h->on_closed = on_closed;
    h->on_closed_data = data;
    if (h->closing)
        return;
    h->closing = true;
    if (h->open_handles == 0) {
        if (on_closed)
            on_closed(data);
        return;
    }
    /* One extra count so that on_closed runs once, after both are closed. */
    h->open_handles++;
    if (h->check_open)
        uv_close((uv_handle_t *)&h->check, on_check_closed);
    if (h->httpd)
        httpd_close(h->httpd, on_httpd_closed, h);
    health_handle_done(h);
}

void health_release(struct health *h)
{
    free(h->config.address);
    h->config.address = NULL;
}
