/*
 * checkpoint: see checkpoint.h. The file is small (one entry per tailed file), so it is
 * rewritten whole on every flush; replacing it by rename keeps the old version intact
 * until the new one is complete on disk.
 */
#include "agent/checkpoint.h"

#include "agent/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A checkpoint file larger than this is not one Osprey wrote (an entry is < 5 KiB with a
 * PATH_MAX path); refusing it bounds the memory a damaged file can claim. */
#define CHECKPOINT_MAX_FILE_BYTES (64u << 20)

struct checkpoint_store {
    char *dir;
    char *path;     /* <dir>/<name>.json */
    char *tmp_path; /* <dir>/<name>.json.tmp */
    struct checkpoint_entry *entries;
    size_t n, cap;
    bool dirty;
};

uint64_t checkpoint_hash(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ---- parsing ------------------------------------------------------------------------- */

/* A uint64 written as a decimal string: digits only, no sign, no leading zero, in range. */
static bool parse_u64_string(const json_t *v, uint64_t *ret)
{
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *ret = x;
    return true;
}

/* A hash: exactly 16 hex digits. */
static bool parse_hash_string(const json_t *v, uint64_t *ret)
{
    if (!json_is_string(v) || json_string_length(v) != 16)
        return false;
    const char *s = json_string_value(v);
    uint64_t x = 0;
    for (size_t i = 0; i < 16; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16u;
        if (d == 16)
            return false;
        x = x << 4 | d;
    }
    *ret = x;
    return true;
}

static bool parse_len(const json_t *v, uint32_t *ret)
{
    if (!json_is_integer(v))
        return false;
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > CHECKPOINT_FP_BYTES)
        return false;
    *ret = (uint32_t)x;
    return true;
}

enum entry_key {
    KEY_PATH, /* "path", or "path_hex" for a path that is not UTF-8 */
    KEY_DEV,
    KEY_INO,
    KEY_OFFSET,
    KEY_HEAD_LEN,
    KEY_HEAD_HASH,
    KEY_TAIL_LEN,
    KEY_TAIL_HASH,
    KEY_UPDATED,
    KEY_FINISHED,
    KEY_COUNT,
};

static const char *const entry_keys[KEY_COUNT] = {
    "path",      "dev",      "ino",       "offset",          "head_len",
    "head_hash", "tail_len", "tail_hash", "updated_unix_ns", "finished"};

static const char *const key_expect[KEY_COUNT] = {
    "a non-empty string",        "a decimal string (uint64)",
    "a decimal string (uint64)", "a decimal string (uint64)",
    "an integer 0..1024",        "16 hex digits",
    "an integer 0..1024",        "16 hex digits",
    "a decimal string (uint64)", "true or false",
};

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* A new string from "path" or "path_hex" (byte pairs; no NUL byte). -EINVAL, -ENOMEM. */
static int parse_path(const json_t *path, const json_t *path_hex, char **ret)
{
    if (path) {
        /* jansson refuses \u0000 in strings unless asked, so strlen is the length. */
        if (!json_is_string(path) || json_string_length(path) == 0)
            return -EINVAL;
        *ret = strdup(json_string_value(path));
        return *ret ? 0 : -ENOMEM;
    }
    if (!json_is_string(path_hex))
        return -EINVAL;
    const char *s = json_string_value(path_hex);
    size_t n = json_string_length(path_hex);
    if (n == 0 || n % 2)
        return -EINVAL;
    char *out = malloc(n / 2 + 1);
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
        if (hi < 0 || lo < 0 || (hi | lo) == 0) {
            free(out);
            return -EINVAL;
        }
        out[i / 2] = (char)(hi << 4 | lo);
    }
    out[n / 2] = '\0';
    *ret = out;
    return 0;
}

/* One element of "files"; on success e->path is a new string. */
static int parse_entry(const json_t *o, size_t index, struct checkpoint_entry *e, char *err,
                       size_t err_len)
{
    if (!json_is_object(o)) {
        log_format_error(err, err_len, "files[%zu] is not an object", index);
        return -EINVAL;
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        size_t k = 0;
        while (k < KEY_COUNT && strcmp(key, entry_keys[k]) != 0)
            k++;
        if (k == KEY_COUNT && strcmp(key, "path_hex") != 0) {
            log_format_error(err, err_len, "files[%zu]: unknown key '%s'", index, key);
            return -EINVAL;
        }
    }
    const json_t *path = json_object_get(o, "path");
    const json_t *path_hex = json_object_get(o, "path_hex");
    if (!path == !path_hex) {
        log_format_error(err, err_len, "files[%zu]: needs exactly one of 'path' and 'path_hex'",
                         index);
        return -EINVAL;
    }
    bool ok = true;
    size_t bad = 0;
    for (size_t k = KEY_PATH + 1; k < KEY_COUNT && ok; k++) {
        v = json_object_get(o, entry_keys[k]);
        bad = k;
        if (!v) {
            log_format_error(err, err_len, "files[%zu]: missing '%s'", index, entry_keys[k]);
            return -EINVAL;
        }
        switch ((enum entry_key)k) {
        case KEY_DEV:
            ok = parse_u64_string(v, &e->dev);
            break;
        case KEY_INO:
            ok = parse_u64_string(v, &e->ino);
            break;
        case KEY_OFFSET:
            ok = parse_u64_string(v, &e->offset);
            break;
        case KEY_HEAD_LEN:
            ok = parse_len(v, &e->head_len);
            break;
        case KEY_HEAD_HASH:
            ok = parse_hash_string(v, &e->head_hash);
            break;
        case KEY_TAIL_LEN:
            ok = parse_len(v, &e->tail_len);
            break;
        case KEY_TAIL_HASH:
            ok = parse_hash_string(v, &e->tail_hash);
            break;
        case KEY_UPDATED:
            ok = parse_u64_string(v, &e->updated_unix_ns);
            break;
        case KEY_FINISHED:
            ok = json_is_boolean(v);
            e->finished = json_is_true(v);
            break;
        case KEY_PATH:
        case KEY_COUNT:
            break;
        }
    }
    if (!ok) {
        log_format_error(err, err_len, "files[%zu]: '%s' must be %s", index, entry_keys[bad],
                         key_expect[bad]);
        return -EINVAL;
    }
    if (e->tail_len > e->offset) {
        log_format_error(err, err_len,
                         "files[%zu]: tail_len %" PRIu32 " is larger than offset %" PRIu64, index,
                         e->tail_len, e->offset);
        return -EINVAL;
    }
    int r = parse_path(path, path_hex, &e->path);
    if (r == -ENOMEM)
        log_format_error(err, err_len, "out of memory");
    else if (r != 0)
        log_format_error(err, err_len, "files[%zu]: '%s' must be %s", index,
                         path ? "path" : "path_hex",
                         path ? key_expect[KEY_PATH] : "non-empty hex digit pairs, no 00");
    return r;
}

void checkpoint_entries_free(struct checkpoint_entry *entries, size_t n)
{
    if (!entries)
        return;
    for (size_t i = 0; i < n; i++)
        free(entries[i].path);
    free(entries);
}

int checkpoint_parse(const char *text, size_t len, struct checkpoint_entry **ret_entries,
                     size_t *ret_n, char *err, size_t err_len)
{
    *ret_entries = NULL;
    *ret_n = 0;
    log_format_error(err, err_len, "%s", "");
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        log_format_error(err, err_len, "not valid JSON at line %d column %d: %s", jerr.line,
                         jerr.column, jerr.text);
        return -EINVAL;
    }
    int r = -EINVAL;
    struct checkpoint_entry *entries = NULL;
    size_t n = 0;
    if (!json_is_object(root)) {
        log_format_error(err, err_len, "the top level is not an object");
        goto cleanup;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "version") != 0 && strcmp(key, "files") != 0) {
            log_format_error(err, err_len, "unknown top-level key '%s'", key);
            goto cleanup;
        }
    }
    json_t *version = json_object_get(root, "version");
    if (!json_is_integer(version)) {
        log_format_error(err, err_len, "'version' is missing or not an integer");
        goto cleanup;
    }
    if (json_integer_value(version) != CHECKPOINT_VERSION) {
        log_format_error(err, err_len,
                         "unsupported version %" JSON_INTEGER_FORMAT " (this build reads %d)",
                         json_integer_value(version), CHECKPOINT_VERSION);
        goto cleanup;
    }
    json_t *files = json_object_get(root, "files");
    if (!json_is_array(files)) {
        log_format_error(err, err_len, "'files' is missing or not an array");
        goto cleanup;
    }
    size_t total = json_array_size(files);
    if (total) {
        entries = calloc(total, sizeof(*entries));
        if (!entries) {
            log_format_error(err, err_len, "out of memory");
            r = -ENOMEM;
            goto cleanup;
        }
    }
    for (size_t i = 0; i < total; i++) {
        struct checkpoint_entry e = {0};
        r = parse_entry(json_array_get(files, i), i, &e, err, err_len);
        if (r != 0)
            goto cleanup;
        entries[n++] = e;
        r = -EINVAL;
        /* A second entry for one file would make the resume position ambiguous. */
        for (size_t j = 0; j + 1 < n; j++) {
            if (entries[j].dev == e.dev && entries[j].ino == e.ino) {
                log_format_error(err, err_len,
                                 "files[%zu] and files[%zu] are both dev %" PRIu64 " ino %" PRIu64,
                                 j, i, e.dev, e.ino);
                goto cleanup;
            }
        }
    }
    *ret_entries = entries;
    *ret_n = n;
    entries = NULL;
    n = 0;
    r = 0;
cleanup:
    checkpoint_entries_free(entries, n);
    json_decref(root);
    return r;
}

/* ---- the store ----------------------------------------------------------------------- */

static char *join3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

/* mkdir -p for the store's directory (0700: checkpoints name the files being read). */
static int make_dirs(const char *dir)
{
    char *tmp = strdup(dir);
    if (!tmp)
        return -ENOMEM;
    int r = 0;
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
            r = -errno;
            break;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    free(tmp);
    if (r == 0) {
        struct stat st;
        if (stat(dir, &st) != 0)
            r = -errno;
        else if (!S_ISDIR(st.st_mode))
            r = -ENOTDIR;
    }
    return r;
}

static int read_whole(const char *path, char **ret, size_t *ret_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int r = 0;
    char *data = NULL;
    size_t len = 0;
    if (fstat(fd, &st) != 0) {
        r = -errno;
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) {
        r = -EINVAL;
        goto cleanup;
    }
    if ((uint64_t)st.st_size > CHECKPOINT_MAX_FILE_BYTES) {
        r = -EFBIG;
        goto cleanup;
    }
    data = malloc((size_t)st.st_size + 1);
    if (!data) {
        r = -ENOMEM;
        goto cleanup;
    }
    while (len < (size_t)st.st_size) {
        ssize_t got = read(fd, data + len, (size_t)st.st_size - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            r = -errno;
            goto cleanup;
        }
        if (got == 0)
            break; /* shrank meanwhile: parse what is there */
        len += (size_t)got;
    }
    data[len] = '\0';
    *ret = data;
    *ret_len = len;
    data = NULL;
cleanup:
    free(data);
    close(fd);
    return r;
}

void checkpoint_store_close(struct checkpoint_store *s)
{
    if (!s)
        return;
    checkpoint_entries_free(s->entries, s->n);
    free(s->dir);
    free(s->path);
    free(s->tmp_path);
    free(s);
}

int checkpoint_store_open(const char *dir, const char *name, char *err, size_t err_len,
                          struct checkpoint_store **ret)
{
    *ret = NULL;
    log_format_error(err, err_len, "%s", "");
    if (!dir || !*dir || !name || !*name || strchr(name, '/')) {
        log_format_error(err, err_len, "invalid checkpoint directory or name");
        return -EINVAL;
    }
    struct checkpoint_store *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    char *text = NULL;
    size_t len = 0;
    int r = -ENOMEM;
    s->dir = strdup(dir);
    s->path = join3(dir, "/", name);
    char *base = s->path;
    s->path = base ? join3(base, ".json", "") : NULL;
    free(base);
    s->tmp_path = s->path ? join3(s->path, ".tmp", "") : NULL;
    if (!s->dir || !s->path || !s->tmp_path)
        goto fail;
    r = make_dirs(dir);
    if (r != 0) {
        log_format_error(err, err_len, "cannot create %s: %s", dir, strerror(-r));
        goto fail;
    }
    /* A temporary left by a crash mid-flush was never renamed in: it is not the state. */
    if (unlink(s->tmp_path) != 0 && errno != ENOENT) {
        r = -errno;
        log_format_error(err, err_len, "cannot remove %s: %s", s->tmp_path, strerror(errno));
        goto fail;
    }
    r = read_whole(s->path, &text, &len);
    if (r == -ENOENT) {
        *ret = s;
        return 0;
    }
    char reason[256];
    if (r == -EFBIG || r == -EINVAL) {
        snprintf(reason, sizeof(reason), "%s",
                 r == -EFBIG ? "file too large" : "not a regular file");
    } else if (r != 0) {
        log_format_error(err, err_len, "cannot read %s: %s", s->path, strerror(-r));
        goto fail;
    } else {
        r = checkpoint_parse(text, len, &s->entries, &s->n, reason, sizeof(reason));
        free(text);
        if (r == -ENOMEM)
            goto fail;
        if (r == 0) {
            s->cap = s->n;
            *ret = s;
            return 0;
        }
    }
    /* Unusable: keep it for a human to look at, start from nothing. */
    char suffix[48];
    snprintf(suffix, sizeof(suffix), ".corrupt-%lld", (long long)time(NULL));
    char *aside = join3(s->path, suffix, "");
    if (!aside) {
        r = -ENOMEM;
        goto fail;
    }
    if (rename(s->path, aside) != 0) {
        r = -errno;
        log_format_error(err, err_len, "%s is unusable (%s) and cannot be renamed aside: %s",
                         s->path, reason, strerror(-r));
        free(aside);
        goto fail;
    }
    log_format_error(err, err_len, "%s", reason);
    log_warn("checkpoint", "%s is unusable (%s): renamed to %s, starting without checkpoints",
             s->path, reason, aside);
    free(aside);
    s->dirty = true; /* write a good file in its place at the next flush */
    *ret = s;
    return 0;
fail:
    checkpoint_store_close(s);
    return r;
}

size_t checkpoint_store_count(const struct checkpoint_store *s)
{
    return s->n;
}

const struct checkpoint_entry *checkpoint_store_at(const struct checkpoint_store *s, size_t i)
{
    return i < s->n ? &s->entries[i] : NULL;
}

static size_t index_of(const struct checkpoint_store *s, uint64_t dev, uint64_t ino)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->entries[i].dev == dev && s->entries[i].ino == ino)
            return i;
    return SIZE_MAX;
}

const struct checkpoint_entry *checkpoint_store_find(const struct checkpoint_store *s, uint64_t dev,
                                                     uint64_t ino)
{
    size_t i = index_of(s, dev, ino);
    return i == SIZE_MAX ? NULL : &s->entries[i];
}

static bool same_entry(const struct checkpoint_entry *a, const struct checkpoint_entry *b)
{
    return strcmp(a->path, b->path) == 0 && a->dev == b->dev && a->ino == b->ino &&
           a->offset == b->offset && a->head_len == b->head_len && a->head_hash == b->head_hash &&
           a->tail_len == b->tail_len && a->tail_hash == b->tail_hash &&
           a->updated_unix_ns == b->updated_unix_ns && a->finished == b->finished;
}

int checkpoint_store_put(struct checkpoint_store *s, const struct checkpoint_entry *e)
{
    if (!e->path || !*e->path || e->head_len > CHECKPOINT_FP_BYTES ||
        e->tail_len > CHECKPOINT_FP_BYTES || e->tail_len > e->offset)
        return -EINVAL;
    size_t i = index_of(s, e->dev, e->ino);
    if (i != SIZE_MAX && same_entry(&s->entries[i], e))
        return 0;
    char *path = strdup(e->path);
    if (!path)
        return -ENOMEM;
    if (i == SIZE_MAX) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 8;
            struct checkpoint_entry *grown = realloc(s->entries, cap * sizeof(*grown));
            if (!grown) {
                free(path);
                return -ENOMEM;
            }
            s->entries = grown;
            s->cap = cap;
        }
        i = s->n++;
    } else {
        free(s->entries[i].path);
    }
    s->entries[i] = *e;
    s->entries[i].path = path;
    s->dirty = true;
    return 0;
}

void checkpoint_store_remove(struct checkpoint_store *s, uint64_t dev, uint64_t ino)
{
    size_t i = index_of(s, dev, ino);
    if (i == SIZE_MAX)
        return;
    free(s->entries[i].path);
    s->entries[i] = s->entries[--s->n];
    s->dirty = true;
}

bool checkpoint_store_dirty(const struct checkpoint_store *s)
{
    return s->dirty;
}

static json_t *u64_string(uint64_t x)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRIu64, x);
    return json_string(buf);
}

static json_t *hex_string(const char *s)
{
    size_t n = strlen(s);
    char *buf = malloc(2 * n + 1);
    if (!buf)
        return NULL;
    for (size_t i = 0; i < n; i++)
        snprintf(buf + 2 * i, 3, "%02x", (unsigned char)s[i]);
    json_t *v = json_string(buf);
    free(buf);
    return v;
}

static json_t *hash_string(uint64_t x)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%016" PRIx64, x);
    return json_string(buf);
}

/* The file's text (indented, so a human can read it), or NULL on ENOMEM. */
static char *serialize(const struct checkpoint_store *s)
{
    json_t *files = json_array();
    int bad = files == NULL;
    for (size_t i = 0; i < s->n && !bad; i++) {
        const struct checkpoint_entry *e = &s->entries[i];
        json_t *o = json_object();
        bad |= o == NULL || json_array_append_new(files, o) != 0;
        if (bad)
            break;
        /* JSON strings are UTF-8; a Linux path is any bytes: keep those as hex. */
        json_t *path = json_string(e->path);
        bad |= path ? json_object_set_new(o, "path", path)
                    : json_object_set_new(o, "path_hex", hex_string(e->path));
        bad |= json_object_set_new(o, "dev", u64_string(e->dev));
        bad |= json_object_set_new(o, "ino", u64_string(e->ino));
        bad |= json_object_set_new(o, "offset", u64_string(e->offset));
        bad |= json_object_set_new(o, "head_len", json_integer(e->head_len));
        bad |= json_object_set_new(o, "head_hash", hash_string(e->head_hash));
        bad |= json_object_set_new(o, "tail_len", json_integer(e->tail_len));
        bad |= json_object_set_new(o, "tail_hash", hash_string(e->tail_hash));
        bad |= json_object_set_new(o, "updated_unix_ns", u64_string(e->updated_unix_ns));
        bad |= json_object_set_new(o, "finished", json_boolean(e->finished));
    }
    json_t *root = bad ? NULL : json_object();
    char *text = NULL;
    if (root && json_object_set_new(root, "version", json_integer(CHECKPOINT_VERSION)) == 0 &&
        json_object_set(root, "files", files) == 0)
        text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    json_decref(files);
    return text;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) != 0 ? -errno : 0;
    close(fd);
    return r;
}

int checkpoint_store_flush(struct checkpoint_store *s)
{
    if (!s->dirty)
        return 0;
    char *text = serialize(s);
    if (!text)
        return -ENOMEM;
    int r = 0;
    int fd = open(s->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 && errno == ENOENT && make_dirs(s->dir) == 0) /* the directory was removed */
        fd = open(s->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        r = -errno;
        goto cleanup;
    }
    r = write_all(fd, text, strlen(text));
    if (r == 0)
        r = write_all(fd, "\n", 1);
    if (r == 0 && fsync(fd) != 0)
        r = -errno;
    /* close can report a deferred write error (NFS): it counts. */
    if (close(fd) != 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(s->tmp_path, s->path) != 0)
        r = -errno;
    if (r != 0) {
        unlink(s->tmp_path);
        goto cleanup;
    }
    /* The rename is durable only once the directory is; until then stay dirty so the
     * next flush writes again. */
    r = fsync_dir(s->dir);
    if (r == 0)
        s->dirty = false;
cleanup:
    free(text);
    return r;
}
