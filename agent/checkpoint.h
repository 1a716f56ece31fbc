/*
 * checkpoint: durable read positions of tailed files, one JSON file per store.
 *
 * A store is <dir>/<name>.json:
 *   {"version":1,"files":[{"path":"/var/log/app.log","dev":"2049","ino":"131",
 *     "offset":"4096","head_len":1024,"head_hash":"af63bd4c8601b7df","tail_len":1024,
 *     "tail_hash":"0123456789abcdef","updated_unix_ns":"1764860000000000000",
 *     "finished":false}]}
 * Every 64-bit value (dev, ino, offset, updated_unix_ns) is a decimal string and every
 * hash a 16-hex-digit string: jansson's integers are signed 64-bit and most other JSON
 * readers use doubles, so a JSON number would lose bits above 2^53 or 2^63.
 *
 * Contract
 * - A store belongs to one owner on one thread; nothing here locks.
 * - checkpoint_store_open() creates the directory if needed. A missing file is an empty
 *   store. A file that cannot be used (bad JSON, bad or unknown keys, an unknown version,
 *   duplicate (dev, ino), values out of range) is renamed to
 *   <name>.json.corrupt-<unix seconds>, logged once as a warning, and the store starts
 *   empty: it returns 0 with the reason in `err` (err[0] == '\0' when the file was fine
 *   or missing). Other I/O errors (unreadable file, cannot create the directory) return
 *   -errno with a message in `err` and no store.
 * - Entries are keyed by (dev, ino). put copies the entry (and its path); pointers from
 *   checkpoint_store_at()/_find() stay valid until the next put/remove/close. Putting
 *   the values already stored changes nothing (no flush follows), so an owner should not
 *   bump updated_unix_ns on its own. A path that is not UTF-8 is stored as "path_hex"
 *   (its bytes in hex) instead of "path": JSON strings cannot hold it.
 * - checkpoint_store_flush() writes only when something changed since the last successful
 *   flush: a temporary file in the same directory, fsync, rename over the store, fsync of
 *   the directory. On failure (a full disk: -ENOSPC, or -EFBIG past RLIMIT_FSIZE) the old
 *   file is left as it was, the temporary removed, the in-memory state kept and still
 *   marked changed, and -errno returned: the caller retries later.
 * - close never flushes: the owner decides whether the state is worth writing.
 * - checkpoint_parse() is pure (no I/O, no logging); on error it returns -EINVAL, sets
 *   *ret_entries = NULL, *ret_n = 0 and names the first problem in `err`.
 */
#ifndef OSPREY_CHECKPOINT_H
#define OSPREY_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHECKPOINT_FP_BYTES 1024
#define CHECKPOINT_VERSION  1

struct checkpoint_entry {
    char *path;
    uint64_t dev, ino;
    uint64_t offset;    /* every byte before it was delivered */
    uint32_t head_len;  /* <= CHECKPOINT_FP_BYTES */
    uint64_t head_hash; /* FNV-1a 64 of the first head_len bytes of the file */
    uint32_t tail_len;  /* <= CHECKPOINT_FP_BYTES and <= offset */
    uint64_t tail_hash; /* FNV-1a 64 of the tail_len bytes just before offset */
    uint64_t updated_unix_ns;
    bool finished; /* a rotated/deleted file read to its end */
};

struct checkpoint_store;

/* FNV-1a 64 of `len` bytes. */
uint64_t checkpoint_hash(const void *data, size_t len);

int checkpoint_store_open(const char *dir, const char *name, char *err, size_t err_len,
                          struct checkpoint_store **ret);
size_t checkpoint_store_count(const struct checkpoint_store *s);
const struct checkpoint_entry *checkpoint_store_at(const struct checkpoint_store *s, size_t i);
const struct checkpoint_entry *checkpoint_store_find(const struct checkpoint_store *s, uint64_t dev,
                                                     uint64_t ino);
/* Insert or replace by (dev, ino); copies e->path (non-empty). 0, -EINVAL (no path,
 * lengths out of range) or -ENOMEM. */
int checkpoint_store_put(struct checkpoint_store *s, const struct checkpoint_entry *e);
void checkpoint_store_remove(struct checkpoint_store *s, uint64_t dev, uint64_t ino);
/* Whether the in-memory state differs from what the last successful flush wrote. */
bool checkpoint_store_dirty(const struct checkpoint_store *s);
int checkpoint_store_flush(struct checkpoint_store *s);
void checkpoint_store_close(struct checkpoint_store *s);

int checkpoint_parse(const char *text, size_t len, struct checkpoint_entry **ret_entries,
                     size_t *ret_n, char *err, size_t err_len);
void checkpoint_entries_free(struct checkpoint_entry *entries, size_t n);

#endif
