/*
 * local_out: a buffered, append-only output stream for the local sinks (file, stdout).
 *
 * Contract
 * - Runs on the export loop. Lines are formatted into `pending` (capped); local_out_write
 *   writes them out with write(2) and, when asked, fdatasync(2) before acknowledging the
 *   records it held (so a checkpoint never gets ahead of what is on disk).
 * - Errors: a failed write (full disk, EIO) keeps what was not written, returns -errno
 *   and is retried on the next write; nothing is dropped until the exporter stops.
 * - The writes are synchronous on the export loop: they are small appends to a local
 *   file or terminal, bounded by `pending`'s cap.
 */
#ifndef OSPREY_LOCAL_OUT_H
#define OSPREY_LOCAL_OUT_H

#include <stdbool.h>

#include "agent/buf.h"
#include "agent/log.h"
#include "exporters/exporter.h"

struct local_out {
    int fd;
    bool owns_fd;
    bool sync;
    char *path;        /* NULL for stdout */
    uint64_t size;     /* bytes in the current file */
    uint64_t max_size; /* rotate to path.1 past this; 0 = never */
    uint64_t pending_records;
    struct buf pending;
    struct delivery_runs runs;
    struct log_complain complain;
};

void local_out_init(struct local_out *o, size_t max_pending);
/* Format and queue one record: 0, -EAGAIN (pending is full: write first), -EINVAL (the
 * record cannot be represented; counted by the caller). */
int local_out_add(struct local_out *o, struct exporter *e, const struct record_view *v);
/* Write everything pending; 0 or -errno. Opens the file on first use. */
int local_out_write(struct local_out *o, struct exporter *e);
/* Give up on what is still pending (shutdown): counted and reported as GAVE_UP. */
void local_out_abandon(struct local_out *o, struct exporter *e);
void local_out_release(struct local_out *o);

#endif
