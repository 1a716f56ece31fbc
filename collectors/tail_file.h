/*
 * tail_file: one tailed file — its identity, fingerprints and read state.
 *
 * Contract
 * - A file is known by (dev, ino) plus fingerprints: FNV-1a 64 (checkpoint_hash) of its
 *   first head_len bytes (head_len grows with the file up to CHECKPOINT_FP_BYTES) and of
 *   the tail_len bytes just before a checkpointed offset. The fingerprints tell a file
 *   that kept its inode from a different file that reused it, and a file rewritten in
 *   place (copytruncate followed by fast writes) from one that only grew.
 * - tail_file_open() opens a path read-only (O_CLOEXEC) and records its identity; the
 *   descriptor is kept until tail_file_close(), across renames and unlinks, so a rotated
 *   or deleted file can be read to its end.
 * - tail_file_probe() compares the open file with what its path names now (stat follows
 *   symlinks, so a swapped symlink reads as a move) and with its own head: it does I/O
 *   (fstat, stat, one pread of at most CHECKPOINT_FP_BYTES) and never allocates.
 * - Reading, framing and delivery state live here too, but are driven by the collector
 *   (collectors/tail.c) on the collect loop: nothing here is thread-safe.
 * - Errors are -errno.
 */
#ifndef OSPREY_TAIL_FILE_H
#define OSPREY_TAIL_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/checkpoint.h"
#include "collectors/log_event.h"
#include "collectors/log_lines.h"

#define TAIL_READ_CHUNK (64u * 1024u)

struct tail_fp {
    uint32_t len;
    uint64_t hash;
};

/* FNV-1a 64 of the first min(size, CHECKPOINT_FP_BYTES) bytes. */
int tail_fp_head(int fd, uint64_t size, struct tail_fp *ret);
/* FNV-1a 64 of the min(offset, CHECKPOINT_FP_BYTES) bytes before offset. */
int tail_fp_tail(int fd, uint64_t offset, struct tail_fp *ret);
/* Does checkpoint entry `e` describe the file open as fd, `size` bytes long: the same
 * first head_len bytes and the same tail_len bytes before e->offset <= size? */
bool tail_fp_verify(int fd, uint64_t size, const struct checkpoint_entry *e);

enum tail_file_state {
    TAIL_FILE_ACTIVE,   /* the pattern names it: follow it */
    TAIL_FILE_DRAINING, /* rotated, deleted or no longer selected: read to its end */
    TAIL_FILE_FINISHED, /* read to its end and framed out; waits for its acks */
};

/* Why a file's bytes must be re-read from an earlier offset before going on. */
enum tail_reset {
    TAIL_RESET_NONE,
    TAIL_RESET_TRUNCATED, /* content replaced: finish what is held, restart at 0 */
    TAIL_RESET_REWIND,    /* a batch was given up: drop what is held, re-read from it */
};

struct tail_file {
    char *path; /* where it was last seen */
    int fd;     /* -1 while closed for being idle (identity and offset kept) */
    uint64_t dev, ino;
    enum tail_file_state state;
    uint64_t state_since_ns;   /* DRAINING: since the last bytes read (the grace) */
    uint64_t drain_started_ns; /* DRAINING: since when (bounds how long it orders others) */
    uint64_t last_active_ns;   /* last bytes read: a file quiet for long is closed */
    uint64_t size;             /* last fstat */
    uint64_t read_off;         /* next byte to read */
    uint64_t committed;        /* end of the longest delivered prefix */
    struct tail_fp head;
    /* Reading */
    uint8_t *buf;
    struct log_lines lines;
    bool lines_ready;
    struct log_event_builder *builder;
    struct log_event_counters seen; /* builder counters already added to selfstats */
    struct log_line held;           /* a line the builder refused with -EBUSY */
    bool have_held;
    bool at_eof;
    bool framer_finished; /* log_lines_finish + forced flush done (draining files) */
    enum tail_reset reset;
    uint64_t reset_to;
    bool reset_flushed;
    /* Delivery */
    uint32_t epoch;       /* bumped by every reset: older events never move `committed` */
    uint32_t generation;  /* bumped by truncations: older give-ups are not rewound */
    uint64_t last_rewind; /* offset of the last rewind in this generation */
    uint64_t n_pending;   /* emitted events of this file awaiting acks */
    uint64_t last_seq;    /* cookie of its newest emitted event */
    uint64_t deferred;    /* checkpoint of events not emitted (filtered) behind in-flight ones */
    uint32_t deferred_epoch;
    bool ckpt_dirty;
    bool auto_remove; /* delete once finished and delivered */
    /* Names */
    char *group;
    char *stream;
};

/* Open `path`; *ret is a zeroed file with path, fd, dev, ino, size and head set. */
int tail_file_open(const char *path, struct tail_file **ret);
/* Close the descriptor, free the reading state and the file. NULL-safe. */
void tail_file_close(struct tail_file *f);

struct tail_probe {
    uint64_t size;     /* of the open file */
    bool unlinked;     /* st_nlink == 0 */
    bool path_moved;   /* the path is gone or names another file now */
    bool head_changed; /* the first head.len bytes are not what they were */
};

int tail_file_probe(struct tail_file *f, struct tail_probe *ret);
/* Grow the head fingerprint up to CHECKPOINT_FP_BYTES as the file grows. */
int tail_file_grow_head(struct tail_file *f);

#endif
