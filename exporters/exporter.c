#include "exporters/exporter.h"

#include "agent/log.h"
#include "agent/pipeline.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_choices[] = {"metrics", "logs", "traces", NULL};

static const struct cfg_field exporter_common_fields[] = {
    {"kinds", CFG_STRING_ARRAY, offsetof(struct exporter_common, kinds), NULL, 0, 0, NULL, 0,
     "record kinds this sink receives: \"metrics\", \"logs\", \"traces\" (default: all it "
     "supports)"},
    CFG_END,
};

const struct cfg_field *exporter_common_key_fields(void)
{
    return exporter_common_fields;
}

void exporter_config_error(struct exporter *e, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    plugin_cfg_verror(&e->cfg, e->name, key, fmt, ap);
    va_end(ap);
}

static int resolve_kinds(struct exporter *e)
{
    if (!e->common.kinds.v) {
        e->kinds = e->type->kinds;
        return 0;
    }
    unsigned kinds = 0;
    int ret = 0;
    for (size_t i = 0; i < e->common.kinds.n; i++) {
        const char *k = e->common.kinds.v[i];
        unsigned bit = 0;
        for (int j = 0; kind_choices[j]; j++)
            if (strcmp(k, kind_choices[j]) == 0)
                bit = RECORD_KIND_BIT(j + RECORD_METRIC);
        if (!bit) {
            exporter_config_error(e, "kinds", "unknown record kind '%s' (metrics, logs, traces)",
                                  k);
            ret = -EINVAL;
        } else if (!(bit & e->type->kinds)) {
            exporter_config_error(e, "kinds", "sink '%s' cannot take '%s'", e->type->name, k);
            ret = -EINVAL;
        }
        kinds |= bit;
    }
    e->kinds = kinds;
    return ret;
}

int exporter_create(const struct exporter_type *type, const char *name, uint16_t id,
                    const struct plugin_env *env, const struct plugin_cfg *cfg,
                    const json_t *config, struct exporter **ret)
{
    struct exporter *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->type = type;
    e->id = id;
    e->env = env;
    e->cfg = *cfg;
    snprintf(e->name, sizeof(e->name), "%s", name);
    if (type->ctx_size) {
        e->ctx = calloc(1, type->ctx_size);
        if (!e->ctx) {
            free(e);
            return -ENOMEM;
        }
    }
    struct cfg_binding bindings[3] = {{type->fields, e->ctx}, {exporter_common_fields, &e->common}};
    size_t n_bindings = 2;
    if (type->extra_fields && e->ctx)
        bindings[n_bindings++] =
            (struct cfg_binding){type->extra_fields, (char *)e->ctx + type->extra_offset};
    int r = cfg_bind(cfg->doc, config, cfg->path, bindings, n_bindings, cfg->errs);
    if (r == 0)
        r = resolve_kinds(e);
    if (r == 0 && type->init)
        r = type->init(e);
    if (r != 0) {
        exporter_destroy(e);
        return r;
    }
    e->state = PLUGIN_INITED;
    e->cfg = (struct plugin_cfg){0};
    *ret = e;
    return 0;
}

int exporter_start(struct exporter *e, uv_loop_t *loop, struct pipeline *pipeline)
{
    e->pipeline = pipeline;
    int r = e->type->start ? e->type->start(e, loop) : 0;
    if (r == 0)
        e->state = PLUGIN_STARTED;
    return r;
}

int exporter_add(struct exporter *e, const struct record_view *rec)
{
    return e->type->add(e, rec);
}

int exporter_flush(struct exporter *e)
{
    return e->type->flush && e->state == PLUGIN_STARTED ? e->type->flush(e) : 0;
}

bool exporter_idle(struct exporter *e)
{
    return e->type->idle ? e->type->idle(e) : true;
}

bool exporter_accepts(const struct exporter *e, enum record_kind kind)
{
    return (e->kinds & RECORD_KIND_BIT(kind)) != 0;
}

static void exporter_maybe_stopped(struct exporter *e)
{
    if (e->state == PLUGIN_STOPPING && e->open_handles == 0) {
        e->state = PLUGIN_STOPPED;
        if (e->on_stopped)
            e->on_stopped(e, e->on_stopped_data);
    }
}

void exporter_stop(struct exporter *e, void (*on_stopped)(struct exporter *, void *), void *data)
{
    e->on_stopped = on_stopped;
    e->on_stopped_data = data;
    if (e->state != PLUGIN_STARTED) {
        e->state = PLUGIN_STOPPED;
        if (on_stopped)
            on_stopped(e, data);
        return;
    }
    e->state = PLUGIN_STOPPING;
    if (e->type->stop)
        e->type->stop(e);
    exporter_maybe_stopped(e);
}

void exporter_destroy(struct exporter *e)
{
    if (!e)
        return;
    if (e->type->destroy && e->ctx)
        e->type->destroy(e);
    cfg_unbind(e->type->fields, e->ctx);
    if (e->type->extra_fields && e->ctx)
        cfg_unbind(e->type->extra_fields, (char *)e->ctx + e->type->extra_offset);
    cfg_unbind(exporter_common_fields, &e->common);
    free(e->ctx);
    free(e);
}

void exporter_handle_opened(struct exporter *e)
{
    e->open_handles++;
}

void exporter_handle_closed(struct exporter *e)
{
    if (e->open_handles > 0)
        e->open_handles--;
    exporter_maybe_stopped(e);
}

void exporter_ready(struct exporter *e)
{
    if (e->pipeline)
        pipeline_resume(e->pipeline);
}

void delivery_runs_init(struct delivery_runs *runs)
{
    runs->n = 0;
}

bool delivery_runs_has_room(const struct delivery_runs *runs, const struct record_hdr *hdr)
{
    return hdr->cookie == 0 || runs->n < DELIVERY_RUNS_MAX ||
           (runs->runs[runs->n - 1].source == hdr->source &&
            runs->runs[runs->n - 1].cookie_last + 1 == hdr->cookie);
}

int delivery_runs_add(struct delivery_runs *runs, const struct record_hdr *hdr)
{
    if (hdr->cookie == 0)
        return 0;
    /* Only the last run grows, and only by the next cookie: a run is always a contiguous
     * range of its source's cookies, so a source that numbers its records can tell
     * exactly which ones an ack covers even when they are spread over several batches. */
    if (runs->n && runs->runs[runs->n - 1].source == hdr->source &&
        runs->runs[runs->n - 1].cookie_last + 1 == hdr->cookie) {
        struct delivery_ack *run = &runs->runs[runs->n - 1];
        run->cookie_last = hdr->cookie;
        run->records++;
        return 0;
    }
    if (runs->n == DELIVERY_RUNS_MAX)
        return -ENOSPC;
    runs->runs[runs->n++] = (struct delivery_ack){
        .source = hdr->source,
        .records = 1,
        .cookie_first = hdr->cookie,
        .cookie_last = hdr->cookie,
    };
    return 0;
}

void exporter_report_runs(struct exporter *e, struct delivery_runs *runs,
                          enum delivery_outcome outcome)
{
    for (size_t i = 0; i < runs->n; i++) {
        struct delivery_ack ack = runs->runs[i];
        ack.exporter = e->id;
        ack.outcome = outcome;
        if (e->pipeline)
            pipeline_post_ack(e->pipeline, &ack);
    }
    runs->n = 0;
}

void delivery_stretch_end(struct exporter *e, struct delivery_ack *cur)
{
    if (cur->records) {
        cur->exporter = e->id;
        if (e->pipeline)
            pipeline_post_ack(e->pipeline, cur);
    }
    memset(cur, 0, sizeof(*cur));
}

void delivery_stretch_add(struct exporter *e, struct delivery_ack *cur, uint16_t source,
                          uint64_t cookie, enum delivery_outcome outcome)
{
    if (cookie == 0)
        return;
    if (cur->records &&
        (cur->source != source || cur->outcome != outcome || cur->cookie_last + 1 != cookie))
        delivery_stretch_end(e, cur);
    if (!cur->records) {
        cur->source = source;
        cur->outcome = outcome;
        cur->cookie_first = cookie;
    }
    cur->cookie_last = cookie;
    cur->records++;
}
