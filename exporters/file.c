/*
 * file: the local sink a newcomer looks at. One JSON-lines file per record kind in
 * `directory` (metrics.jsonl, logs.jsonl, traces.jsonl), records in CloudWatch API shape
 * (local_format.h), rotated to <name>.1 past max_file_bytes so it cannot fill a disk.
 * Records with a cookie are acknowledged only after the bytes were written and
 * fdatasync'ed. A write error (full disk) keeps the data and applies backpressure.
 */
#include "exporters/exporter.h"
#include "exporters/local_out.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct file_sink {
    char *directory;
    int64_t max_file_bytes;
    int64_t buffer_bytes;
    struct local_out out[RECORD_KIND_MAX];
    bool blocked;
};

static const struct cfg_field file_fields[] = {
    {"directory", CFG_STRING, offsetof(struct file_sink, directory), "./osprey-out", 0, 0, NULL, 0,
     "directory for metrics.jsonl, logs.jsonl and traces.jsonl (created if missing)"},
    {"max_file_bytes", CFG_INT, offsetof(struct file_sink, max_file_bytes), "104857600", 4096, 1e12,
     NULL, 0, "rotate a file to <name>.1 once it is this large"},
    {"buffer_bytes", CFG_INT, offsetof(struct file_sink, buffer_bytes), "4194304", 65536, 1 << 30,
     NULL, 0, "bytes buffered per file between writes"},
    CFG_END,
};

static int mkdir_p(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int file_init(struct exporter *e)
{
    struct file_sink *s = e->ctx;
    if (!s->directory[0]) {
        exporter_config_error(e, "directory", "'directory' must not be empty");
        return -EINVAL;
    }
    for (int k = RECORD_METRIC; k < RECORD_KIND_MAX; k++) {
        struct local_out *o = &s->out[k];
        local_out_init(o, (size_t)s->buffer_bytes);
        o->sync = true;
        o->max_size = (uint64_t)s->max_file_bytes;
        if (asprintf(&o->path, "%s/%s.jsonl", s->directory, record_kind_name(k)) < 0) {
            o->path = NULL;
            return -ENOMEM;
        }
    }
    return 0;
}

static int file_start(struct exporter *e, uv_loop_t *loop)
{
    struct file_sink *s = e->ctx;
    int r = mkdir_p(s->directory);
    if (r != 0)
        log_error(e->name, "cannot create directory '%s': %s", s->directory, strerror(-r));
    return r;
}

static int file_flush(struct exporter *e)
{
    struct file_sink *s = e->ctx;
    int ret = 0;
    for (int k = RECORD_METRIC; k < RECORD_KIND_MAX; k++) {
        int r = local_out_write(&s->out[k], e);
        if (r != 0)
            ret = r;
    }
    if (ret == 0 && s->blocked) {
        s->blocked = false;
        exporter_ready(e);
    }
    return ret;
}

static int file_add(struct exporter *e, const struct record_view *v)
{
    struct file_sink *s = e->ctx;
    struct local_out *o = &s->out[v->hdr.kind];
    int r = local_out_add(o, e, v);
    if (r == -EAGAIN && local_out_write(o, e) == 0)
        r = local_out_add(o, e, v);
    if (r == -EAGAIN) {
        s->blocked = true;
        return -EAGAIN;
    }
    if (r != 0) {
        selfstats_drop(&e->stats, DROP_INVALID, 1);
        return r;
    }
    return 0;
}

static bool file_idle(struct exporter *e)
{
    struct file_sink *s = e->ctx;
    for (int k = RECORD_METRIC; k < RECORD_KIND_MAX; k++)
        if (s->out[k].pending.len)
            return false;
    return true;
}

static void file_stop(struct exporter *e)
{
    struct file_sink *s = e->ctx;
    for (int k = RECORD_METRIC; k < RECORD_KIND_MAX; k++)
        local_out_abandon(&s->out[k], e);
}

static void file_destroy(struct exporter *e)
{
    struct file_sink *s = e->ctx;
    for (int k = RECORD_METRIC; k < RECORD_KIND_MAX; k++)
        local_out_release(&s->out[k]);
}

const struct exporter_type exporter_file = {
    .name = "file",
    .help = "JSON lines per record kind in a local directory (the default local sink)",
    .kinds = RECORD_KINDS_ALL,
    .fields = file_fields,
    .ctx_size = sizeof(struct file_sink),
    .init = file_init,
    .start = file_start,
    .add = file_add,
    .flush = file_flush,
    .idle = file_idle,
    .stop = file_stop,
    .destroy = file_destroy,
};
