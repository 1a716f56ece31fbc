#include "collectors/collector.h"

#include "agent/clock.h"
#include "agent/instance_meta.h"
#include "agent/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct cfg_field metric_common_fields[] = {
    {"metrics_collection_interval", CFG_SECONDS,
     offsetof(struct collector_metric_opts, interval_ns), NULL, 1, 86400, NULL, 0,
     "seconds between scrapes; below 60 publishes high-resolution metrics"},
    {"measurement", CFG_JSON, offsetof(struct collector_metric_opts, measurement_json), NULL, 0, 0,
     NULL, 0, "metrics to publish: names, or {name, rename, unit} objects"},
    {"append_dimensions", CFG_JSON, offsetof(struct collector_metric_opts, append_dimensions), NULL,
     0, 0, NULL, 0, "extra dimensions added to every metric of this plugin"},
    CFG_END,
};

const struct cfg_field *collector_metric_common_fields(void)
{
    return metric_common_fields;
}

void collector_config_error(struct collector *c, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    plugin_cfg_verror(&c->cfg, c->name, key, fmt, ap);
    va_end(ap);
}

static void measurements_release(struct collector_metric_opts *m)
{
    for (size_t i = 0; i < m->n_measurements; i++) {
        free(m->measurements[i].name);
        free(m->measurements[i].rename);
    }
    free(m->measurements);
    m->measurements = NULL;
    m->n_measurements = 0;
}

static const char *strip_plugin_prefix(const struct collector *c, const char *name)
{
    size_t n = strlen(c->type->name);
    if (strncmp(name, c->type->name, n) == 0 && name[n] == '_')
        return name + n + 1;
    return name;
}

static int parse_measurements(struct collector *c)
{
    json_t *list = c->metric.measurement_json;
    char path[1024];
    if (!list)
        return 0;
    cfg_path_join(path, sizeof(path), c->cfg.path, "measurement");
    if (!json_is_array(list)) {
        cfg_error_at(c->cfg.errs, c->cfg.doc, path, false, "'measurement' must be an array, got %s",
                     cfg_json_type_name(list));
        return -EINVAL;
    }
    size_t n = json_array_size(list);
    c->metric.measurements = calloc(n ? n : 1, sizeof(struct metric_measurement));
    if (!c->metric.measurements)
        return -ENOMEM;
    int ret = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(list, i);
        char ipath[1024];
        cfg_path_index(ipath, sizeof(ipath), path, i);
        struct metric_measurement *m = &c->metric.measurements[c->metric.n_measurements];
        const char *name = NULL, *rename = NULL, *unit = NULL;
        if (json_is_string(item)) {
            name = json_string_value(item);
        } else if (json_is_object(item)) {
            const char *key;
            json_t *v;
            json_object_foreach(item, key, v)
            {
                char kpath[1024];
                cfg_path_join(kpath, sizeof(kpath), ipath, key);
                const char **slot = strcmp(key, "name") == 0     ? &name
                                    : strcmp(key, "rename") == 0 ? &rename
                                    : strcmp(key, "unit") == 0   ? &unit
                                                                 : NULL;
                if (!slot) {
                    cfg_error_at(c->cfg.errs, c->cfg.doc, kpath, true,
                                 "unknown key '%s' in a measurement (known keys: name, rename, "
                                 "unit)",
                                 key);
                    ret = -EINVAL;
                } else if (!json_is_string(v)) {
                    cfg_error_at(c->cfg.errs, c->cfg.doc, kpath, false,
                                 "'%s' must be a string, got %s", key, cfg_json_type_name(v));
                    ret = -EINVAL;
                } else {
                    *slot = json_string_value(v);
                }
            }
            if (!name) {
                cfg_error_at(c->cfg.errs, c->cfg.doc, ipath, false,
                             "a measurement object needs a 'name'");
                ret = -EINVAL;
                continue;
            }
        } else {
            cfg_error_at(c->cfg.errs, c->cfg.doc, ipath, false,
                         "a measurement must be a string or an object, got %s",
                         cfg_json_type_name(item));
            ret = -EINVAL;
            continue;
        }
        if (unit) {
            if (metric_unit_parse(unit, &m->unit) != 0) {
                cfg_error_at(c->cfg.errs, c->cfg.doc, ipath, false,
                             "'%s' is not a CloudWatch unit (e.g. Percent, Bytes, Count, None)",
                             unit);
                ret = -EINVAL;
                continue;
            }
            m->unit_set = true;
        }
        const char *field = strip_plugin_prefix(c, name);
        bool known = c->type->metric_fields == NULL;
        for (const char *const *f = c->type->metric_fields; f && *f && !known; f++)
            known = strcmp(*f, field) == 0;
        if (!known) {
            char known_list[768] = "";
            size_t len = 0;
            for (const char *const *f = c->type->metric_fields; *f && len < sizeof(known_list); f++)
                len += (size_t)snprintf(known_list + len, sizeof(known_list) - len, "%s%s",
                                        len ? ", " : "", *f);
            cfg_error_at(c->cfg.errs, c->cfg.doc, ipath, false,
                         "unknown %s measurement '%s' (known: %s)", c->type->name, name,
                         known_list);
            ret = -EINVAL;
            continue;
        }
        m->name = strdup(field);
        m->rename = rename ? strdup(rename) : NULL;
        if (!m->name || (rename && !m->rename))
            return -ENOMEM;
        c->metric.n_measurements++;
    }
    return ret;
}

static int check_append_dimensions(struct collector *c)
{
    json_t *dims = c->metric.append_dimensions;
    char path[1024];
    if (!dims)
        return 0;
    cfg_path_join(path, sizeof(path), c->cfg.path, "append_dimensions");
    if (!json_is_object(dims)) {
        cfg_error_at(c->cfg.errs, c->cfg.doc, path, false,
                     "'append_dimensions' must be an object, got %s", cfg_json_type_name(dims));
        return -EINVAL;
    }
    int ret = 0;
    const char *key;
    json_t *v;
    json_object_foreach(dims, key, v)
    {
        char kpath[1024];
        cfg_path_join(kpath, sizeof(kpath), path, key);
        if (!json_is_string(v)) {
            cfg_error_at(c->cfg.errs, c->cfg.doc, kpath, false,
                         "dimension '%s' must be a string, got %s", key, cfg_json_type_name(v));
            ret = -EINVAL;
        } else if (strstr(json_string_value(v), "${aws:") &&
                   !instance_meta_placeholder_known(json_string_value(v))) {
            cfg_error_at(c->cfg.errs, c->cfg.doc, kpath, false,
                         "unknown placeholder '%s' (known: ${aws:InstanceId}, "
                         "${aws:InstanceType}, ${aws:ImageId}, ${aws:AutoScalingGroupName})",
                         json_string_value(v));
            ret = -EINVAL;
        }
    }
    if (json_object_size(dims) + 2 > METRIC_MAX_DIMS) {
        cfg_error_at(c->cfg.errs, c->cfg.doc, path, false,
                     "too many dimensions (CloudWatch allows %d per metric)", METRIC_MAX_DIMS);
        ret = -EINVAL;
    }
    return ret;
}

int collector_create(const struct collector_type *type, const char *name, uint16_t id,
                     const struct plugin_env *env, const struct plugin_cfg *cfg,
                     const json_t *config, struct collector **ret)
{
    struct collector *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->type = type;
    c->id = id;
    c->env = env;
    c->cfg = *cfg;
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->kinds = type->kinds;
    if (type->ctx_size) {
        c->ctx = calloc(1, type->ctx_size);
        if (!c->ctx) {
            free(c);
            return -ENOMEM;
        }
    }
    struct cfg_binding bindings[2] = {{type->fields, c->ctx}};
    size_t n_bindings = 1;
    if (type->metric_common)
        bindings[n_bindings++] = (struct cfg_binding){metric_common_fields, &c->metric};
    int r = cfg_bind(cfg->doc, config, cfg->path, bindings, n_bindings, cfg->errs);
    if (r == 0 && type->metric_common) {
        r = parse_measurements(c);
        int r2 = check_append_dimensions(c);
        if (r == 0)
            r = r2;
    }
    if (r == 0 && type->init)
        r = type->init(c);
    if (r != 0) {
        collector_destroy(c);
        return r;
    }
    c->state = PLUGIN_INITED;
    c->cfg = (struct plugin_cfg){0};
    *ret = c;
    return 0;
}

int collector_start(struct collector *c, uv_loop_t *loop, struct collect_output *out)
{
    c->out = out;
    int r = c->type->start ? c->type->start(c, loop) : 0;
    if (r == 0)
        c->state = PLUGIN_STARTED;
    return r;
}

int collector_flush(struct collector *c)
{
    return c->type->flush && c->state == PLUGIN_STARTED ? c->type->flush(c) : 0;
}

static void collector_maybe_stopped(struct collector *c)
{
    if (c->state == PLUGIN_STOPPING && c->open_handles == 0) {
        c->state = PLUGIN_STOPPED;
        if (c->on_stopped)
            c->on_stopped(c, c->on_stopped_data);
    }
}

void collector_stop(struct collector *c, void (*on_stopped)(struct collector *, void *), void *data)
{
    c->on_stopped = on_stopped;
    c->on_stopped_data = data;
    if (c->state != PLUGIN_STARTED) {
        c->state = PLUGIN_STOPPED;
        if (on_stopped)
            on_stopped(c, data);
        return;
    }
    c->state = PLUGIN_STOPPING;
    if (c->type->stop)
        c->type->stop(c);
    collector_maybe_stopped(c);
}

void collector_destroy(struct collector *c)
{
    if (!c)
        return;
    if (c->type->destroy && c->ctx)
        c->type->destroy(c);
    cfg_unbind(c->type->fields, c->ctx);
    if (c->type->metric_common) {
        measurements_release(&c->metric);
        cfg_unbind(metric_common_fields, &c->metric);
    }
    free(c->ctx);
    free(c);
}

void collector_deliver_ack(struct collector *c, const struct delivery_ack *ack)
{
    if (c->type->on_ack)
        c->type->on_ack(c, ack);
}

void collector_space_available(struct collector *c)
{
    if (c->type->on_space && c->state == PLUGIN_STARTED)
        c->type->on_space(c);
}

void collector_self_metrics(struct collector *c,
                            void (*emit)(void *user, const char *name, const char *label,
                                         const char *label_value, double value),
                            void *user)
{
    if (c->type->self_metrics)
        c->type->self_metrics(c, emit, user);
}

bool collector_quiescent(struct collector *c)
{
    return c->type->quiescent ? c->type->quiescent(c) : true;
}

void collector_describe(struct collector *c, FILE *out)
{
    if (c->type->describe)
        c->type->describe(c, out);
}

void collector_handle_opened(struct collector *c)
{
    c->open_handles++;
}

void collector_handle_closed(struct collector *c)
{
    if (c->open_handles > 0)
        c->open_handles--;
    collector_maybe_stopped(c);
}

uint64_t collector_interval_ns(const struct collector *c)
{
    return c->metric.interval_ns ? c->metric.interval_ns : c->env->metrics_interval_ns;
}

static void on_collector_timer(uv_timer_t *h)
{
    struct collector_timer *t = h->data;
    t->tick(t->c);
}

static void on_collector_timer_closed(uv_handle_t *h)
{
    struct collector_timer *t = h->data;
    collector_handle_closed(t->c);
}

int collector_timer_start(struct collector *c, uv_loop_t *loop, struct collector_timer *t,
                          void (*tick)(struct collector *c))
{
    /* 0 only if the agent left its default unset: the CloudWatch agent's 60 s. */
    uint64_t every_ms = collector_interval_ns(c) / NS_PER_MS;
    t->c = c;
    t->tick = tick;
    int r = uv_timer_init(loop, &t->timer);
    if (r != 0)
        return r;
    t->timer.data = t;
    collector_handle_opened(c);
    r = uv_timer_start(&t->timer, on_collector_timer, 0, every_ms ? every_ms : 60000);
    if (r != 0)
        uv_close((uv_handle_t *)&t->timer, on_collector_timer_closed);
    return r;
}

void collector_timer_stop(struct collector_timer *t)
{
    uv_timer_stop(&t->timer);
    uv_close((uv_handle_t *)&t->timer, on_collector_timer_closed);
}

static const struct metric_measurement default_measurement = {0};

const struct metric_measurement *collector_metric_selected(const struct collector *c,
                                                           const char *field)
{
    if (!c->metric.measurement_json)
        return &default_measurement;
    for (size_t i = 0; i < c->metric.n_measurements; i++)
        if (strcmp(c->metric.measurements[i].name, field) == 0)
            return &c->metric.measurements[i];
    return NULL;
}

static bool point_has_dim(const struct metric_point *p, const char *name)
{
    for (size_t i = 0; i < p->n_dims; i++)
        if (strcmp(p->dims[i].name, name) == 0)
            return true;
    return false;
}

/* A "${aws:...}" value becomes the instance's; one that is not known (off EC2, no tags
 * in metadata) leaves the dimension out rather than publishing the placeholder. */
static void add_dim_resolved(const struct collector *c, struct metric_point *p, const char *name,
                             const char *value)
{
    if (strncmp(value, "${aws:", 6) == 0) {
        value = instance_meta_lookup(c->env->instance, value);
        if (!value)
            return;
    }
    (void)metric_point_add_dim(p, name, value);
}

void collector_metric_begin(const struct collector *c, struct metric_point *p, const char *field,
                            enum metric_unit default_unit, char *name_buf, size_t name_cap)
{
    const struct metric_measurement *m = collector_metric_selected(c, field);
    memset(p, 0, offsetof(struct metric_point, dims));
    p->namespace_ = c->env->metrics_namespace;
    if (m && m->rename) {
        snprintf(name_buf, name_cap, "%s", m->rename);
    } else {
        snprintf(name_buf, name_cap, "%s_%s", c->type->name, field);
    }
    p->name = name_buf;
    p->unit = m && m->unit_set ? m->unit : default_unit;
    p->storage_resolution = collector_interval_ns(c) < 60ull * 1000000000ull ? 1 : 60;
    p->value_kind = METRIC_VALUE_SINGLE;
    if (!c->env->omit_hostname && c->env->hostname)
        (void)metric_point_add_dim(p, "host", c->env->hostname);
    if (c->metric.append_dimensions) {
        const char *key;
        json_t *v;
        json_object_foreach(c->metric.append_dimensions, key, v)
        {
            add_dim_resolved(c, p, key, json_string_value(v));
        }
    }
    for (size_t i = 0; i < c->env->n_append_dims; i++)
        if (!point_has_dim(p, c->env->append_dims[i].name))
            add_dim_resolved(c, p, c->env->append_dims[i].name, c->env->append_dims[i].value);
}

static void emitted(struct collector *c, size_t bytes, bool wake)
{
    selfstats_add(&c->stats.records_out, 1);
    selfstats_add(&c->stats.bytes_out, bytes);
    if (wake && c->out->wake)
        uv_async_send(c->out->wake);
}

/* metrics.aggregation_dimensions: for each set whose dimensions the point has, one more
 * point with exactly those dimensions. CloudWatch aggregates the datums that land on the
 * same series, which is the rollup the CloudWatch agent publishes. */
static void emit_rollups(struct collector *c, uint64_t ts_ns, const struct metric_point *p)
{
    for (size_t s = 0; s < c->env->n_aggregation; s++) {
        const struct metric_dim_set *set = &c->env->aggregation[s];
        struct metric_point r;
        memcpy(&r, p, offsetof(struct metric_point, dims));
        r.n_dims = 0;
        size_t found = 0;
        for (size_t k = 0; k < set->n; k++) {
            for (size_t i = 0; i < p->n_dims; i++) {
                if (strcmp(p->dims[i].name, set->names[k]) == 0) {
                    r.dims[r.n_dims++] = p->dims[i];
                    found++;
                    break;
                }
            }
        }
        if (found != set->n || set->n == p->n_dims)
            continue; /* lacks a dimension, or the rollup would be the point itself */
        selfstats_add(&c->stats.records_in, 1);
        struct record_hdr hdr = {.source = c->id, .ts_ns = ts_ns};
        size_t len = record_metric_size(&r);
        void *dst = len <= ring_max_record(c->out->ring) ? ring_reserve(c->out->ring, len) : NULL;
        if (!dst) {
            selfstats_drop(&c->stats, DROP_RING_FULL, 1);
            continue;
        }
        if (record_metric_encode(dst, len, &hdr, &r) != 0) {
            selfstats_drop(&c->stats, DROP_INVALID, 1);
            continue;
        }
        emitted(c, len, ring_commit(c->out->ring));
    }
}

int collector_emit_metric(struct collector *c, uint64_t ts_ns, uint64_t cookie,
                          const struct metric_point *p)
{
    return collector_emit_metric_flags(c, ts_ns, cookie, 0, p);
}

int collector_emit_metric_flags(struct collector *c, uint64_t ts_ns, uint64_t cookie,
                                uint32_t flags, const struct metric_point *p)
{
    struct record_hdr hdr = {.source = c->id, .flags = flags, .ts_ns = ts_ns, .cookie = cookie};
    size_t len = record_metric_size(p);
    if (len > ring_max_record(c->out->ring)) {
        selfstats_drop(&c->stats, DROP_TOO_LARGE, 1);
        return -EINVAL;
    }
    void *dst = ring_reserve(c->out->ring, len);
    if (!dst)
        return -ENOSPC;
    int r = record_metric_encode(dst, len, &hdr, p);
    if (r != 0) {
        selfstats_drop(&c->stats, DROP_INVALID, 1);
        return -EINVAL;
    }
    emitted(c, len, ring_commit(c->out->ring));
    if (c->env->n_aggregation && !(flags & RECORD_FLAG_LOCAL_ONLY))
        emit_rollups(c, ts_ns, p);
    return 0;
}

int collector_emit_log(struct collector *c, uint64_t ts_ns, uint64_t cookie,
                       const struct log_event *ev)
{
    return collector_emit_log_flags(c, ts_ns, cookie, 0, ev);
}

int collector_emit_log_flags(struct collector *c, uint64_t ts_ns, uint64_t cookie, uint32_t flags,
                             const struct log_event *ev)
{
    struct record_hdr hdr = {.source = c->id, .flags = flags, .ts_ns = ts_ns, .cookie = cookie};
    size_t len = record_log_size(ev);
    if (len > ring_max_record(c->out->ring)) {
        selfstats_drop(&c->stats, DROP_TOO_LARGE, 1);
        return -EINVAL;
    }
    void *dst = ring_reserve(c->out->ring, len);
    if (!dst)
        return -ENOSPC;
    if (record_log_encode(dst, len, &hdr, ev) != 0) {
        selfstats_drop(&c->stats, DROP_INVALID, 1);
        return -EINVAL;
    }
    emitted(c, len, ring_commit(c->out->ring));
    return 0;
}

/* Big enough that a batch of ~200-byte lines pays the ring's costs once per ~300 events,
 * small enough that the export side starts on a file's lines early. */
#define LOG_BATCH_BYTES (64u * 1024u)

void collector_log_batch_commit(struct collector *c, struct collector_log_batch *b)
{
    if (!b->open)
        return;
    b->open = false;
    uint32_t n = b->w.n_events;
    size_t len = record_log_batch_finish(&b->w);
    bool wake = ring_commit_len(c->out->ring, len);
    selfstats_add(&c->stats.records_out, n);
    selfstats_add(&c->stats.bytes_out, len);
    if (wake && c->out->wake)
        uv_async_send(c->out->wake);
}

int collector_log_batch_add(struct collector *c, struct collector_log_batch *b, const char *group,
                            const char *stream, uint64_t ts_ns, uint64_t cookie, const uint8_t *msg,
                            uint32_t len)
{
    if (b->open && (b->group != group || b->stream != stream || b->next_cookie != cookie ||
                    record_log_batch_add(&b->w, ts_ns, msg, len) != 0))
        collector_log_batch_commit(c, b);
    if (b->open) {
        b->next_cookie++;
        return 0;
    }
    size_t group_len = strlen(group), stream_len = strlen(stream);
    size_t need = record_log_batch_overhead(group_len, stream_len) +
                  RECORD_LOG_BATCH_EVENT_OVERHEAD + (size_t)len;
    size_t room = ring_max_record(c->out->ring);
    if (need > room) {
        selfstats_drop(&c->stats, DROP_TOO_LARGE, 1);
        return -EINVAL;
    }
    /* Ask for a whole batch; near a full ring, for just this event. */
    size_t want = need > LOG_BATCH_BYTES ? need : LOG_BATCH_BYTES;
    if (want > room)
        want = room;
    void *dst = ring_reserve(c->out->ring, want);
    if (!dst && want > need) {
        want = need;
        dst = ring_reserve(c->out->ring, want);
    }
    if (!dst)
        return -ENOSPC;
    struct record_hdr hdr = {.source = c->id, .ts_ns = ts_ns, .cookie = cookie};
    if (record_log_batch_begin(&b->w, dst, want, &hdr, group, group_len, stream, stream_len) != 0 ||
        record_log_batch_add(&b->w, ts_ns, msg, len) != 0)
        return -EINVAL; /* cannot happen: `need` was reserved */
    b->group = group;
    b->stream = stream;
    b->next_cookie = cookie + 1;
    b->open = true;
    return 0;
}

int collector_emit_segment(struct collector *c, uint64_t ts_ns, uint64_t cookie, const uint8_t *doc,
                           size_t len)
{
    struct record_hdr hdr = {.source = c->id, .ts_ns = ts_ns, .cookie = cookie};
    size_t total = record_segment_size(len);
    if (total > ring_max_record(c->out->ring)) {
        selfstats_drop(&c->stats, DROP_TOO_LARGE, 1);
        return -EINVAL;
    }
    void *dst = ring_reserve(c->out->ring, total);
    if (!dst)
        return -ENOSPC;
    if (record_segment_encode(dst, total, &hdr, doc, len) != 0) {
        selfstats_drop(&c->stats, DROP_INVALID, 1);
        return -EINVAL;
    }
    emitted(c, total, ring_commit(c->out->ring));
    return 0;
}

void collector_request_space(struct collector *c)
{
    selfstats_add(&c->stats.paused, 1);
    ring_request_space(c->out->ring);
}
