/*
 * stdout: the same JSON lines as the file sink, written to standard output (for
 * containers whose runtime collects stdout, and for watching data flow by hand).
 */
#include "exporters/exporter.h"
#include "exporters/local_out.h"

#include <errno.h>
#include <unistd.h>

struct stdout_sink {
    int64_t buffer_bytes;
    struct local_out out;
    bool blocked;
};

static const struct cfg_field stdout_fields[] = {
    {"buffer_bytes", CFG_INT, offsetof(struct stdout_sink, buffer_bytes), "1048576", 65536, 1 << 30,
     NULL, 0, "bytes buffered between writes"},
    CFG_END,
};

static int stdout_init(struct exporter *e)
{
    struct stdout_sink *s = e->ctx;
    local_out_init(&s->out, (size_t)s->buffer_bytes);
    s->out.fd = STDOUT_FILENO;
    return 0;
}

static int stdout_flush(struct exporter *e)
{
    struct stdout_sink *s = e->ctx;
    int r = local_out_write(&s->out, e);
    if (r == 0 && s->blocked) {
        s->blocked = false;
        exporter_ready(e);
    }
    return r;
}

static int stdout_add(struct exporter *e, const struct record_view *v)
{
    struct stdout_sink *s = e->ctx;
    int r = local_out_add(&s->out, e, v);
    if (r == -EAGAIN && local_out_write(&s->out, e) == 0)
        r = local_out_add(&s->out, e, v);
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

static bool stdout_idle(struct exporter *e)
{
    struct stdout_sink *s = e->ctx;
    return s->out.pending.len == 0;
}

static void stdout_stop(struct exporter *e)
{
    struct stdout_sink *s = e->ctx;
    local_out_abandon(&s->out, e);
}

static void stdout_destroy(struct exporter *e)
{
    struct stdout_sink *s = e->ctx;
    local_out_release(&s->out);
}

const struct exporter_type exporter_stdout = {
    .name = "stdout",
    .help = "JSON lines on standard output",
    .kinds = RECORD_KINDS_ALL,
    .fields = stdout_fields,
    .ctx_size = sizeof(struct stdout_sink),
    .init = stdout_init,
    .add = stdout_add,
    .flush = stdout_flush,
    .idle = stdout_idle,
    .stop = stdout_stop,
    .destroy = stdout_destroy,
};
