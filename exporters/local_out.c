#include "exporters/local_out.h"

#include "exporters/local_format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void local_out_init(struct local_out *o, size_t max_pending)
{
    memset(o, 0, sizeof(*o));
    o->fd = -1;
    buf_init(&o->pending, max_pending);
    delivery_runs_init(&o->runs);
}

void local_out_release(struct local_out *o)
{
    if (o->owns_fd && o->fd >= 0)
        close(o->fd);
    o->fd = -1;
    free(o->path);
    o->path = NULL;
    buf_release(&o->pending);
}

int local_out_add(struct local_out *o, struct exporter *e, const struct record_view *v)
{
    if (!delivery_runs_has_room(&o->runs, &v->hdr))
        return -EAGAIN; /* no run slot for a new source: write first */
    /* Invalid UTF-8 is repaired and counted by the source (it knows the file); here it
     * is only made safe for JSON. */
    int r = local_format_record(&o->pending, v, NULL);
    if (r == -ENOBUFS || r == -ENOMEM)
        return -EAGAIN;
    if (r != 0)
        return -EINVAL;
    (void)delivery_runs_add(&o->runs, &v->hdr);
    o->pending_records++;
    selfstats_add(&e->stats.records_in, 1);
    return 0;
}

static int local_out_open(struct local_out *o)
{
    if (o->fd >= 0)
        return 0;
    int fd = open(o->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    struct stat st;
    o->size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    o->fd = fd;
    o->owns_fd = true;
    return 0;
}

static int local_out_rotate(struct local_out *o)
{
    char old[4096];
    snprintf(old, sizeof(old), "%s.1", o->path);
    if (rename(o->path, old) != 0)
        return -errno;
    close(o->fd);
    o->fd = -1;
    return local_out_open(o);
}

int local_out_write(struct local_out *o, struct exporter *e)
{
    if (o->pending.len == 0)
        return 0;
    int r = o->path ? local_out_open(o) : 0;
    size_t written = 0;
    while (r == 0 && written < o->pending.len) {
        ssize_t n = write(o->fd, o->pending.data + written, o->pending.len - written);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        written += (size_t)n;
    }
    if (r == 0 && o->sync && o->runs.n && fdatasync(o->fd) != 0 && errno != EINVAL)
        r = -errno;
    selfstats_add(&e->stats.bytes_out, written);
    o->size += written;
    if (r != 0) {
        /* Keep the unwritten tail; the records stay unacknowledged until it is out. */
        buf_consume(&o->pending, written);
        selfstats_add(&e->stats.errors, 1);
        log_complain(&o->complain, LOG_LEVEL_ERROR, e->name, "cannot write '%s': %s, retrying",
                     o->path ? o->path : "stdout", strerror(-r));
        return r;
    }
    log_complain_clear(&o->complain, e->name, "writing '%s' again", o->path ? o->path : "stdout");
    buf_reset(&o->pending);
    selfstats_add(&e->stats.records_out, o->pending_records);
    selfstats_add(&e->stats.batches_ok, 1);
    o->pending_records = 0;
    exporter_report_runs(e, &o->runs, DELIVERY_ACCEPTED);
    if (o->path && o->max_size && o->size >= o->max_size) {
        int rr = local_out_rotate(o);
        if (rr != 0)
            log_warn(e->name, "cannot rotate '%s': %s, ignoring", o->path, strerror(-rr));
    }
    return 0;
}

void local_out_abandon(struct local_out *o, struct exporter *e)
{
    if (o->pending_records) {
        selfstats_drop(&e->stats, DROP_SHUTDOWN, o->pending_records);
        log_error(e->name, "%llu records could not be written to '%s' before shutdown",
                  (unsigned long long)o->pending_records, o->path ? o->path : "stdout");
    }
    exporter_report_runs(e, &o->runs, DELIVERY_GAVE_UP);
    o->pending_records = 0;
    buf_reset(&o->pending);
}
