/*
 * The checkpoint store (agent/checkpoint): round trip, missing and corrupt files, strict
 * parsing (versions, duplicates, ranges), 64-bit values that JSON numbers would round,
 * flushing only when changed, and a write that fails for lack of space (RLIMIT_FSIZE makes
 * write() fail with EFBIG without privileges, as a full disk fails it with ENOSPC).
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/checkpoint.h"

struct fixture {
    char dir[64];
    char file[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/osprey-ckpt-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->file, sizeof(f->file), "%s/tail/s.json", f->dir);
    *state = f;
    return 0;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    remove_tree(f->dir);
    free(f);
    return 0;
}

static char *tail_dir(const struct fixture *f)
{
    static char buf[128];
    snprintf(buf, sizeof(buf), "%s/tail", f->dir);
    return buf;
}

static struct checkpoint_store *open_store(const struct fixture *f, char *err, size_t err_len)
{
    struct checkpoint_store *s = NULL;
    assert_int_equal(checkpoint_store_open(tail_dir(f), "s", err, err_len, &s), 0);
    assert_non_null(s);
    return s;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* How many directory entries start with `prefix`. */
static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static struct checkpoint_entry sample(uint64_t ino, uint64_t offset)
{
    return (struct checkpoint_entry){
        .path = "/var/log/app.log",
        .dev = 2049,
        .ino = ino,
        .offset = offset,
        .head_len = 1024,
        .head_hash = checkpoint_hash("head", 4),
        .tail_len = offset < 1024 ? (uint32_t)offset : 1024,
        .tail_hash = 0xfedcba9876543210ull,
        .updated_unix_ns = 1764860000123456789ull,
        .finished = false,
    };
}

static void assert_entry_equal(const struct checkpoint_entry *a, const struct checkpoint_entry *b)
{
    assert_string_equal(a->path, b->path);
    assert_true(a->dev == b->dev);
    assert_true(a->ino == b->ino);
    assert_true(a->offset == b->offset);
    assert_int_equal(a->head_len, b->head_len);
    assert_true(a->head_hash == b->head_hash);
    assert_int_equal(a->tail_len, b->tail_len);
    assert_true(a->tail_hash == b->tail_hash);
    assert_true(a->updated_unix_ns == b->updated_unix_ns);
    assert_int_equal(a->finished, b->finished);
}

static void test_hash_is_fnv1a_64(void **state)
{
    (void)state;
    /* Published FNV-1a 64 test vectors. */
    assert_true(checkpoint_hash("", 0) == 0xcbf29ce484222325ull);
    assert_true(checkpoint_hash("a", 1) == 0xaf63dc4c8601ec8cull);
    assert_true(checkpoint_hash("foobar", 6) == 0x85944171f73967e8ull);
}

static void test_missing_file_is_empty(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct checkpoint_store *s = open_store(f, err, sizeof(err));
    assert_string_equal(err, "");
    assert_int_equal(checkpoint_store_count(s), 0);
    assert_null(checkpoint_store_find(s, 1, 2));
    assert_false(checkpoint_store_dirty(s));
    /* Nothing changed: nothing is written. */
    assert_int_equal(checkpoint_store_flush(s), 0);
    assert_int_equal(access(f->file, F_OK), -1);
    checkpoint_store_close(s);
}

static void test_round_trip(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct checkpoint_store *s = open_store(f, err, sizeof(err));
    struct checkpoint_entry a = sample(131, 4096);
    struct checkpoint_entry b = sample(132, 10);
    b.path = "/var/log/app.log.1";
    b.finished = true;
    /* 64-bit values JSON numbers (doubles, or jansson's signed integers) would change. */
    struct checkpoint_entry c = sample(UINT64_MAX, 1ull << 63);
    c.dev = (1ull << 53) + 1;
    c.path = "/var/log/\"quoted\" \xc3\xa9\\dir/x.log";
    c.head_hash = UINT64_MAX;
    c.tail_hash = 0;
    c.updated_unix_ns = UINT64_MAX;
    assert_int_equal(checkpoint_store_put(s, &a), 0);
    assert_int_equal(checkpoint_store_put(s, &b), 0);
    assert_int_equal(checkpoint_store_put(s, &c), 0);
    assert_true(checkpoint_store_dirty(s));
    assert_int_equal(checkpoint_store_flush(s), 0);
    assert_false(checkpoint_store_dirty(s));
    checkpoint_store_close(s);

    s = open_store(f, err, sizeof(err));
    assert_string_equal(err, "");
    assert_int_equal(checkpoint_store_count(s), 3);
    assert_entry_equal(checkpoint_store_find(s, 2049, 131), &a);
    assert_entry_equal(checkpoint_store_find(s, 2049, 132), &b);
    assert_entry_equal(checkpoint_store_find(s, (1ull << 53) + 1, UINT64_MAX), &c);
    assert_false(checkpoint_store_dirty(s));

    /* Replace by (dev, ino), then remove. */
    a.offset = 8192;
    assert_int_equal(checkpoint_store_put(s, &a), 0);
    assert_int_equal(checkpoint_store_count(s), 3);
    assert_true(checkpoint_store_find(s, 2049, 131)->offset == 8192);
    checkpoint_store_remove(s, 2049, 132);
    checkpoint_store_remove(s, 2049, 999); /* absent: no effect */
    assert_int_equal(checkpoint_store_count(s), 2);
    assert_null(checkpoint_store_find(s, 2049, 132));
    assert_int_equal(checkpoint_store_flush(s), 0);
    checkpoint_store_close(s);

    s = open_store(f, err, sizeof(err));
    assert_int_equal(checkpoint_store_count(s), 2);
    assert_entry_equal(checkpoint_store_find(s, 2049, 131), &a);
    assert_non_null(checkpoint_store_at(s, 1));
    assert_null(checkpoint_store_at(s, 2));
    checkpoint_store_close(s);
    /* No temporary is left behind. */
    assert_int_equal(count_prefixed(tail_dir(f), "s.json.tmp"), 0);
}

static void test_non_utf8_path_and_removed_directory(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct checkpoint_store *s = open_store(f, err, sizeof(err));
    struct checkpoint_entry a = sample(131, 4096);
    a.path = "/var/log/latin1-\xe9t\xe9.log"; /* not UTF-8: kept byte for byte */
    assert_int_equal(checkpoint_store_put(s, &a), 0);
    /* Someone removed the state directory: the flush makes it again. */
    char file[160], dir[128];
    snprintf(dir, sizeof(dir), "%s", tail_dir(f));
    snprintf(file, sizeof(file), "%s", f->file);
    unlink(file);
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(checkpoint_store_flush(s), 0);
    checkpoint_store_close(s);
    char *text = read_text(f->file);
    assert_non_null(text);
    assert_non_null(
        strstr(text, "\"path_hex\": \"2f7661722f6c6f672f6c6174696e312de974e92e6c6f67\""));
    free(text);
    s = open_store(f, err, sizeof(err));
    assert_string_equal(err, "");
    assert_entry_equal(checkpoint_store_find(s, 2049, 131), &a);
    checkpoint_store_close(s);
}

static void test_put_rejects_bad_entries(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct checkpoint_store *s = open_store(f, err, sizeof(err));
    struct checkpoint_entry e = sample(1, 4096);
    e.path = NULL;
    assert_int_equal(checkpoint_store_put(s, &e), -EINVAL);
    e.path = "";
    assert_int_equal(checkpoint_store_put(s, &e), -EINVAL);
    e = sample(1, 4096);
    e.head_len = CHECKPOINT_FP_BYTES + 1;
    assert_int_equal(checkpoint_store_put(s, &e), -EINVAL);
    e = sample(1, 10);
    e.tail_len = 11; /* more tail bytes than precede the offset */
    assert_int_equal(checkpoint_store_put(s, &e), -EINVAL);
    assert_int_equal(checkpoint_store_count(s), 0);
    assert_false(checkpoint_store_dirty(s));
    checkpoint_store_close(s);
}

static void test_flush_only_when_changed(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct checkpoint_store *s = open_store(f, err, sizeof(err));
    struct checkpoint_entry a = sample(131, 4096);
    assert_int_equal(checkpoint_store_put(s, &a), 0);
    assert_int_equal(checkpoint_store_flush(s), 0);
    struct stat st1, st2;
    assert_int_equal(stat(f->file, &st1), 0);

    /* Putting the same values again, removing what is absent and flushing again leave
     * the file alone: each real write replaces the file, so its inode would change. */
    assert_int_equal(checkpoint_store_put(s, &a), 0);
    checkpoint_store_remove(s, 7, 7);
    assert_false(checkpoint_store_dirty(s));
    assert_int_equal(checkpoint_store_flush(s), 0);
    assert_int_equal(stat(f->file, &st2), 0);
    assert_true(st1.st_ino == st2.st_ino);
    assert_true(st1.st_mtim.tv_sec == st2.st_mtim.tv_sec &&
                st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec);

    a.offset++;
    assert_int_equal(checkpoint_store_put(s, &a), 0);
    assert_int_equal(checkpoint_store_flush(s), 0);
    assert_int_equal(stat(f->file, &st2), 0);
    assert_true(st1.st_ino != st2.st_ino);
    /* Owner-only: checkpoints name the files being read. */
    assert_int_equal(st2.st_mode & 0777, 0600);
    checkpoint_store_close(s);
}

/* Write `text` as the store's file and open it: the file must be set aside. */
static void expect_set_aside(const struct fixture *f, const char *text, const char *want_err)
{
    char err[256];
    mkdir(tail_dir(f), 0700);
    write_file(f->file, text);
    int before = count_prefixed(tail_dir(f), "s.json.corrupt-");
    struct checkpoint_store *s = open_store(f, err, sizeof(err));
    if (!strstr(err, want_err))
        fail_msg("error '%s' does not mention '%s'", err, want_err);
    assert_int_equal(checkpoint_store_count(s), 0);
    assert_int_equal(access(f->file, F_OK), -1);
    /* Several files set aside within one second overwrite each other's name: at least
     * one exists. */
    assert_true(count_prefixed(tail_dir(f), "s.json.corrupt-") >= (before ? before : 1));
    /* A good file takes its place at the next flush. */
    assert_true(checkpoint_store_dirty(s));
    assert_int_equal(checkpoint_store_flush(s), 0);
    char *now = read_text(f->file);
    assert_non_null(now);
    assert_non_null(strstr(now, "\"version\": 1"));
    free(now);
    checkpoint_store_close(s);
    s = open_store(f, err, sizeof(err));
    assert_string_equal(err, "");
    checkpoint_store_close(s);
}

static void test_corrupt_file_renamed_aside(void **state)
{
    struct fixture *f = *state;
    const char *text = "{\"version\":1,\"files\":[{\"path\":\"/x\"";
    expect_set_aside(f, text, "not valid JSON");
    /* The original bytes are kept in the renamed file. */
    DIR *d = opendir(tail_dir(f));
    assert_non_null(d);
    struct dirent *de;
    bool found = false;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "s.json.corrupt-", 15) != 0)
            continue;
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", tail_dir(f), de->d_name);
        char *kept = read_text(p);
        found = kept && strcmp(kept, text) == 0;
        free(kept);
    }
    closedir(d);
    assert_true(found);
}

static void test_unknown_version(void **state)
{
    struct fixture *f = *state;
    expect_set_aside(f, "{\"version\":2,\"files\":[]}", "unsupported version 2");
    expect_set_aside(f, "{\"files\":[]}", "'version' is missing");
}

static void test_duplicates(void **state)
{
    struct fixture *f = *state;
    const char *entry = "{\"path\":\"/a\",\"dev\":\"1\",\"ino\":\"2\",\"offset\":\"3\","
                        "\"head_len\":3,\"head_hash\":\"0000000000000001\",\"tail_len\":3,"
                        "\"tail_hash\":\"0000000000000002\",\"updated_unix_ns\":\"5\","
                        "\"finished\":false}";
    char text[1024];
    snprintf(text, sizeof(text), "{\"version\":1,\"files\":[%s,%s]}", entry, entry);
    expect_set_aside(f, text, "files[0] and files[1] are both dev 1 ino 2");
    /* A key given twice in one object. */
    expect_set_aside(f, "{\"version\":1,\"version\":1,\"files\":[]}", "duplicate");
}

/* checkpoint_parse on one entry whose key `key` has the raw JSON value `value`. */
static int parse_with(const char *key, const char *value, char *err, size_t err_len)
{
    const char *keys[] = {"path",      "dev",      "ino",       "offset",          "head_len",
                          "head_hash", "tail_len", "tail_hash", "updated_unix_ns", "finished"};
    const char *good[] = {"\"/a\"", "\"1\"",
                          "\"2\"",  "\"300\"",
                          "3",      "\"00000000000000aa\"",
                          "3",      "\"00000000000000bb\"",
                          "\"5\"",  "true"};
    char text[2048];
    size_t n = (size_t)snprintf(text, sizeof(text), "{\"version\":1,\"files\":[{");
    bool first = true;
    for (size_t i = 0; i < 10; i++) {
        const char *v = strcmp(keys[i], key) == 0 ? value : good[i];
        if (!v)
            continue; /* the key is left out */
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\"%s\":%s", first ? "" : ",", keys[i],
                              v);
        first = false;
    }
    if (strcmp(key, "extra") == 0 || strcmp(key, "path_hex") == 0)
        n += (size_t)snprintf(text + n, sizeof(text) - n, ",\"%s\":%s", key, value);
    snprintf(text + n, sizeof(text) - n, "}]}");
    struct checkpoint_entry *entries = NULL;
    size_t count = 0;
    int r = checkpoint_parse(text, strlen(text), &entries, &count, err, err_len);
    if (r == 0)
        assert_int_equal(count, 1);
    else
        assert_null(entries);
    checkpoint_entries_free(entries, count);
    return r;
}

static void expect_parse_error(const char *key, const char *value, const char *want)
{
    char err[256];
    assert_int_equal(parse_with(key, value, err, sizeof(err)), -EINVAL);
    if (!strstr(err, want))
        fail_msg("%s=%s: error '%s' does not mention '%s'", key, value ? value : "(absent)", err,
                 want);
}

static void test_strict_values(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(parse_with("none", NULL, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    /* The largest values fit; one more does not. */
    assert_int_equal(parse_with("offset", "\"18446744073709551615\"", err, sizeof(err)), 0);
    assert_int_equal(parse_with("ino", "\"9223372036854775808\"", err, sizeof(err)), 0);
    assert_int_equal(parse_with("head_hash", "\"FFFFFFFFFFFFFFFF\"", err, sizeof(err)), 0);
    expect_parse_error("offset", "\"18446744073709551616\"", "'offset' must be a decimal string");
    expect_parse_error("offset", "300", "'offset' must be a decimal string");
    expect_parse_error("offset", "\"-1\"", "'offset'");
    expect_parse_error("offset", "\"0300\"", "'offset'");
    expect_parse_error("offset", "\"\"", "'offset'");
    expect_parse_error("offset", "\"2\"", "tail_len 3 is larger than offset 2");
    expect_parse_error("dev", "\"1 \"", "'dev'");
    expect_parse_error("head_len", "1025", "'head_len' must be an integer 0..1024");
    expect_parse_error("tail_len", "-1", "'tail_len'");
    expect_parse_error("head_hash", "\"00000000000000a\"", "'head_hash' must be 16 hex digits");
    expect_parse_error("tail_hash", "\"00000000000000ag\"", "'tail_hash'");
    expect_parse_error("path", "\"\"", "'path' must be a non-empty string");
    expect_parse_error("path", "\"a\\u0000b\"", "not valid JSON");
    expect_parse_error("finished", "1", "'finished' must be true or false");
    expect_parse_error("updated_unix_ns", NULL, "missing 'updated_unix_ns'");
    expect_parse_error("extra", "1", "unknown key 'extra'");
    expect_parse_error("path_hex", "\"2f61\"", "needs exactly one of 'path' and 'path_hex'");
    expect_parse_error("path", NULL, "needs exactly one of 'path' and 'path_hex'");

    struct checkpoint_entry *e = NULL;
    size_t n = 0;
    const char *bad[][2] = {
        {"[]", "top level is not an object"},
        {"{\"version\":1}", "'files' is missing"},
        {"{\"version\":1,\"files\":{}}", "'files' is missing or not an array"},
        {"{\"version\":1,\"files\":[1]}", "files[0] is not an object"},
        {"{\"version\":\"1\",\"files\":[]}", "'version' is missing or not an integer"},
        {"{\"version\":1,\"files\":[],\"x\":0}", "unknown top-level key 'x'"},
        {"", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(checkpoint_parse(bad[i][0], strlen(bad[i][0]), &e, &n, err, sizeof(err)),
                         -EINVAL);
        assert_null(e);
        assert_int_equal(n, 0);
        if (!strstr(err, bad[i][1]))
            fail_msg("'%s': error '%s' does not mention '%s'", bad[i][0], err, bad[i][1]);
    }
    /* path_hex instead of path: byte pairs, no NUL byte. */
    const char *hex_entry = "{\"version\":1,\"files\":[{\"path_hex\":\"%s\",\"dev\":\"1\","
                            "\"ino\":\"2\",\"offset\":\"0\",\"head_len\":0,\"head_hash\":"
                            "\"0000000000000000\",\"tail_len\":0,\"tail_hash\":"
                            "\"0000000000000000\",\"updated_unix_ns\":\"0\",\"finished\":false}]}";
    const char *hex_bad[] = {"", "2f6", "2f00", "2fzz"};
    char text[512];
    for (size_t i = 0; i < 4; i++) {
        snprintf(text, sizeof(text), hex_entry, hex_bad[i]);
        assert_int_equal(checkpoint_parse(text, strlen(text), &e, &n, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "'path_hex' must be"));
    }
    snprintf(text, sizeof(text), hex_entry, "2FfF");
    assert_int_equal(checkpoint_parse(text, strlen(text), &e, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].path, "/\xff");
    checkpoint_entries_free(e, n);

    const char *empty = "{\"version\":1,\"files\":[]}";
    assert_int_equal(checkpoint_parse(empty, strlen(empty), &e, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
    checkpoint_entries_free(e, n);
}

static void test_stale_temporary_ignored(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct checkpoint_store *s = open_store(f, err, sizeof(err));
    struct checkpoint_entry a = sample(131, 4096);
    assert_int_equal(checkpoint_store_put(s, &a), 0);
    assert_int_equal(checkpoint_store_flush(s), 0);
    checkpoint_store_close(s);
    /* A crash between writing the temporary and renaming it: the temporary is garbage. */
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s.tmp", f->file);
    write_file(tmp, "{\"version\":1,\"fi");
    s = open_store(f, err, sizeof(err));
    assert_string_equal(err, "");
    assert_int_equal(checkpoint_store_count(s), 1);
    assert_int_equal(access(tmp, F_OK), -1);
    checkpoint_store_close(s);
}

static void test_open_errors(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct checkpoint_store *s = NULL;
    assert_int_equal(checkpoint_store_open(f->dir, "a/b", err, sizeof(err), &s), -EINVAL);
    assert_null(s);
    /* The directory path runs through a regular file. */
    char file[128], under[160];
    snprintf(file, sizeof(file), "%s/plain", f->dir);
    write_file(file, "x");
    snprintf(under, sizeof(under), "%s/sub", file);
    assert_true(checkpoint_store_open(under, "s", err, sizeof(err), &s) < 0);
    assert_null(s);
    assert_non_null(strstr(err, "cannot create"));
}

/* A write that runs out of space: RLIMIT_FSIZE stands in for a full disk (write() fails
 * part-way through the file, as with ENOSPC), without privileges or a special mount. */
static void test_write_failure_keeps_old_file(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct checkpoint_store *s = open_store(f, err, sizeof(err));
    struct checkpoint_entry a = sample(131, 4096);
    assert_int_equal(checkpoint_store_put(s, &a), 0);
    assert_int_equal(checkpoint_store_flush(s), 0);
    char *before = read_text(f->file);
    assert_non_null(before);

    for (uint64_t ino = 1000; ino < 1040; ino++) {
        struct checkpoint_entry e = sample(ino, ino * 7);
        assert_int_equal(checkpoint_store_put(s, &e), 0);
    }
    struct rlimit saved;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = {.rlim_cur = 2048, .rlim_max = saved.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    int r = checkpoint_store_flush(s);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(r, -EFBIG);

    /* The old file is untouched, no temporary is left, the state is kept and still due. */
    char *after = read_text(f->file);
    assert_non_null(after);
    assert_string_equal(before, after);
    free(after);
    free(before);
    assert_int_equal(count_prefixed(tail_dir(f), "s.json.tmp"), 0);
    assert_int_equal(checkpoint_store_count(s), 41);
    assert_true(checkpoint_store_dirty(s));

    /* Space again: the retry writes everything. */
    assert_int_equal(checkpoint_store_flush(s), 0);
    checkpoint_store_close(s);
    s = open_store(f, err, sizeof(err));
    assert_int_equal(checkpoint_store_count(s), 41);
    assert_true(checkpoint_store_find(s, 2049, 1039)->offset == 1039 * 7);
    checkpoint_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_is_fnv1a_64),
        cmocka_unit_test_setup_teardown(test_missing_file_is_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_utf8_path_and_removed_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_rejects_bad_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_only_when_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_file_renamed_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
        cmocka_unit_test(test_strict_values),
        cmocka_unit_test_setup_teardown(test_stale_temporary_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failure_keeps_old_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
