/*
 * tail_glob: the `file_path` patterns of the log tailer — compile, match, expand.
 *
 * Contract
 * - Pattern language (the CloudWatch agent's, after gobwas/glob): `*` any run of
 *   characters but '/', `?` one character but '/', `[abc]`, `[a-z]`, `[!x]` / `[^x]` one
 *   character of (not of) a class, never '/', `**` any run of characters including '/'
 *   ("super asterisk": "/var/log/" followed by "**.log" is every .log file below
 *   /var/log), `\x` the character x. Everything else is literal ("{a,b}" included). The
 *   pattern must be an absolute path of at most TAIL_GLOB_MAX_PATH bytes.
 * - tail_glob_compile() is the parser: it allocates the compiled pattern (and the
 *   blacklist regex) and returns 0, or -EINVAL with the reason in err, or -ENOMEM.
 * - tail_glob_match() is pure (no I/O, no allocation), O(len(path) * tokens) time with
 *   a fixed stack row: safe on any input.
 * - tail_glob_expand() reads the file system (opendir/stat, no writes): every regular
 *   file (symlinks followed) the pattern matches, except files whose base name the
 *   blacklist regex matches, compressed files (.gz .bz2 .xz .zst .zip .tar .rar .tgz)
 *   unless the pattern's own last segment ends in that suffix, and anything under
 *   `exclude_prefix` (the agent's state directory). Bounded: at most
 *   TAIL_GLOB_MAX_VISITS directory entries per expansion and TAIL_GLOB_MAX_DEPTH levels
 *   below the literal prefix; symlinked directories are not followed below a `**`.
 *   Also returns the directories worth watching (where a new match would appear).
 * - Threads: a compiled pattern is immutable and may be used from any thread.
 */
#ifndef OSPREY_TAIL_GLOB_H
#define OSPREY_TAIL_GLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAIL_GLOB_MAX_PATH   4096
#define TAIL_GLOB_MAX_DEPTH  32
#define TAIL_GLOB_MAX_VISITS 100000

struct tail_glob;

struct tail_match {
    char *path;
    uint64_t dev, ino;
    uint64_t size;
    int64_t mtime_ns;
};

struct tail_match_list {
    struct tail_match *v;
    size_t n, cap;
    size_t newest; /* index of the most recently modified match (when n > 0) */
    char **dirs;   /* directories to watch */
    size_t n_dirs, cap_dirs;
    bool truncated; /* the expansion hit TAIL_GLOB_MAX_VISITS */
};

int tail_glob_compile(const char *pattern, const char *blacklist, char *err, size_t err_len,
                      struct tail_glob **ret);
void tail_glob_free(struct tail_glob *g);

/* Does `path` (len bytes) match the pattern? The blacklist is not applied. */
bool tail_glob_match(const struct tail_glob *g, const char *path, size_t len);
/* Is the base name of `path` blacklisted, or a compressed file the pattern does not
 * name? (The checks tail_glob_expand applies to each match.) */
bool tail_glob_excluded(const struct tail_glob *g, const char *path);
/* Whether the pattern has a `**` (expansion walks a tree) or any wildcard at all. */
bool tail_glob_has_globstar(const struct tail_glob *g);
bool tail_glob_is_literal(const struct tail_glob *g);
/* No `**` and no wildcard in a directory part: every match is directly in the base
 * directory, so watching that one directory sees every new match. */
bool tail_glob_is_flat(const struct tail_glob *g);
/* The literal directory the expansion starts from ("/var/log" for the pattern "/var/log/" +
 * "*.log"). */
const char *tail_glob_base_dir(const struct tail_glob *g);

/* Expand into `ret` (released and refilled). 0 or -ENOMEM; unreadable directories are
 * skipped. */
int tail_glob_expand(const struct tail_glob *g, const char *exclude_prefix,
                     struct tail_match_list *ret);
void tail_match_list_release(struct tail_match_list *l);

#endif
