/*
 * procfs_proc: the process table as the "processes" plugin reads it: a pure parser for
 * the two fields it needs from /proc/[pid]/stat (state letter, number of threads), and
 * an allocation-free iterator over the numeric entries of a proc root.
 *
 * Contract
 * - procfs_parse_pid_stat() is pure (no I/O, no allocation, no logging, any thread);
 *   `buf` need not be NUL-terminated and nothing past `len` is read. Returns 0 or
 *   -EBADMSG for anything the kernel does not write: no "pid (comm) S" start, a state
 *   that is not a letter, fewer than 20 fields, a field 4..20 that is not a decimal
 *   integer (20, num_threads, must not be negative), or a buffer not ending in '\n'
 *   (a read cut short).
 * - The pid iterator does I/O: procfs_pids_open() opens the directory, procfs_pids_next()
 *   reads its entries with getdents64 into a buffer owned by the caller (reused, never
 *   grown, so a scan allocates nothing), procfs_pids_close() closes it. One owner, one
 *   thread. Errors are -errno; an entry whose name is not a pid is skipped silently
 *   (self, net, sys, ...).
 *
 * Limits: pids up to PROCFS_PID_MAX (the kernel's PID_MAX_LIMIT).
 */
#ifndef OSPREY_PROCFS_PROC_H
#define OSPREY_PROCFS_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROCFS_PID_MAX 4194304u /* 2^22, PID_MAX_LIMIT on 64-bit */

struct procfs_pid_stat {
    char state;           /* field 3: R S D Z T t X x K W P I ... */
    uint64_t num_threads; /* field 20, since Linux 2.6 (a 0 placeholder before) */
};

int procfs_parse_pid_stat(const char *buf, size_t len, struct procfs_pid_stat *ret);

/* true when `name` is a pid directory name: 1..7 digits, no leading 0, <= PROCFS_PID_MAX. */
bool procfs_is_pid_name(const char *name, uint32_t *ret_pid);

struct procfs_pids {
    int fd;
    char *buf; /* caller's, >= PROCFS_PIDS_BUF_MIN bytes, 8-byte aligned */
    size_t cap;
    size_t len, pos;
};

#define PROCFS_PIDS_BUF_MIN 1024u

int procfs_pids_open(struct procfs_pids *it, const char *root, char *buf, size_t cap);
/* 1 with *ret_pid set, 0 at the end, -errno. */
int procfs_pids_next(struct procfs_pids *it, uint32_t *ret_pid);
void procfs_pids_close(struct procfs_pids *it);

#endif
