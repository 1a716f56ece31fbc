/*
 * Tests for the tailer's file_path patterns (collectors/tail_glob.c): the matcher's
 * semantics, compile errors, blacklist and compressed-file exclusion, and expansion over a
 * real directory tree; and for the file fingerprints (collectors/tail_file.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/checkpoint.h"
#include "collectors/tail_file.h"
#include "collectors/tail_glob.h"

static struct tail_glob *compile_ok(const char *pattern, const char *blacklist)
{
    char err[256] = "";
    struct tail_glob *g = NULL;
    int r = tail_glob_compile(pattern, blacklist, err, sizeof(err), &g);
    if (r != 0)
        fail_msg("'%s' refused: %s", pattern, err);
    return g;
}

static bool matches(const char *pattern, const char *path)
{
    struct tail_glob *g = compile_ok(pattern, NULL);
    bool m = tail_glob_match(g, path, strlen(path));
    tail_glob_free(g);
    return m;
}

static void test_match_semantics(void **state)
{
    (void)state;
    assert_true(matches("/var/log/app.log", "/var/log/app.log"));
    assert_false(matches("/var/log/app.log", "/var/log/app.log.1"));
    assert_true(matches("/var/log/app.log*", "/var/log/app.log"));
    assert_true(matches("/var/log/app.log*", "/var/log/app.log.2026-12-04"));
    assert_false(matches("/var/log/*.log", "/var/log/sub/x.log")); /* * stops at '/' */
    assert_true(matches("/var/log/*/x.log", "/var/log/sub/x.log"));
    assert_true(matches("/var/log/**.log", "/var/log/a.log"));
    assert_true(matches("/var/log/**.log", "/var/log/a/b/c.log"));
    assert_false(matches("/var/log/**.log", "/var/log/a/b/c.txt"));
    assert_true(matches("/var/log/**/x.log", "/var/log/a/b/x.log"));
    assert_false(matches("/var/log/**/x.log", "/var/log/x.log")); /* needs both slashes */
    assert_true(matches("/var/log/app?.log", "/var/log/app1.log"));
    assert_false(matches("/var/log/app?.log", "/var/log/app.log"));
    assert_false(matches("/var/log/a?b", "/var/log/a/b"));
    assert_true(matches("/var/log/[ab].log", "/var/log/a.log"));
    assert_false(matches("/var/log/[ab].log", "/var/log/c.log"));
    assert_true(matches("/var/log/[a-c].log", "/var/log/b.log"));
    assert_true(matches("/var/log/[!a].log", "/var/log/b.log"));
    assert_false(matches("/var/log/[!a].log", "/var/log/a.log"));
    assert_false(matches("/var/log[!a]x", "/var/log/x")); /* a class never matches '/' */
    assert_true(matches("/var/log/\\*.log", "/var/log/*.log"));
    assert_false(matches("/var/log/\\*.log", "/var/log/a.log"));
    assert_true(matches("/*", "/x"));
    /* Many stars: linear work, no exponential backtracking. */
    assert_false(matches("/a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
                         "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static void test_compile_errors(void **state)
{
    (void)state;
    char err[256];
    struct tail_glob *g = NULL;
    assert_int_equal(tail_glob_compile("relative/x.log", NULL, err, sizeof(err), &g), -EINVAL);
    assert_non_null(strstr(err, "absolute"));
    assert_int_equal(tail_glob_compile("/var/log/[ab.log", NULL, err, sizeof(err), &g), -EINVAL);
    assert_non_null(strstr(err, "unterminated"));
    assert_int_equal(tail_glob_compile("/var/log/x.log", "([", err, sizeof(err), &g), -EINVAL);
    assert_non_null(strstr(err, "blacklist"));
    assert_null(g);
    g = compile_ok("/var/log/app/*.log", NULL);
    assert_string_equal(tail_glob_base_dir(g), "/var/log/app");
    assert_true(tail_glob_is_flat(g));
    assert_false(tail_glob_has_globstar(g));
    assert_false(tail_glob_is_literal(g));
    tail_glob_free(g);
    g = compile_ok("/var/**/x.log", NULL);
    assert_string_equal(tail_glob_base_dir(g), "/var");
    assert_true(tail_glob_has_globstar(g));
    assert_false(tail_glob_is_flat(g));
    tail_glob_free(g);
    g = compile_ok("/var/*/app/x.log", NULL);
    assert_string_equal(tail_glob_base_dir(g), "/var");
    assert_false(tail_glob_is_flat(g));
    tail_glob_free(g);
    g = compile_ok("/x.log", NULL);
    assert_true(tail_glob_is_literal(g));
    assert_string_equal(tail_glob_base_dir(g), "/");
    tail_glob_free(g);
}

static void test_excluded(void **state)
{
    (void)state;
    struct tail_glob *g = compile_ok("/var/log/app.log*", "\\.bak$");
    assert_true(tail_glob_excluded(g, "/var/log/app.log.1.gz"));
    assert_true(tail_glob_excluded(g, "/var/log/app.log.2.bz2"));
    assert_true(tail_glob_excluded(g, "/var/log/app.log.3.xz"));
    assert_true(tail_glob_excluded(g, "/var/log/app.log.4.zst"));
    assert_true(tail_glob_excluded(g, "/var/log/app.log.bak"));
    assert_false(tail_glob_excluded(g, "/var/log/app.log.1"));
    assert_false(tail_glob_excluded(g, "/var/log/app.log"));
    tail_glob_free(g);
    /* A pattern that names compressed files gets them. */
    g = compile_ok("/var/log/*.gz", NULL);
    assert_false(tail_glob_excluded(g, "/var/log/app.log.1.gz"));
    assert_true(tail_glob_excluded(g, "/var/log/app.log.1.xz"));
    tail_glob_free(g);
    /* The blacklist looks at the file name only. */
    g = compile_ok("/var/log/**", "^log$");
    assert_false(tail_glob_excluded(g, "/var/log/x"));
    assert_true(tail_glob_excluded(g, "/var/x/log"));
    tail_glob_free(g);
}

static void touch(const char *dir, const char *name, const char *text, time_t mtime)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    struct timespec times[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
    assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
}

static bool listed(const struct tail_match_list *l, const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].path, p) == 0)
            return true;
    return false;
}

static void test_expand(void **state)
{
    (void)state;
    char dir[] = "/tmp/osprey-glob-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[256], deep[256], state_dir[256];
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    snprintf(deep, sizeof(deep), "%s/sub/deep", dir);
    snprintf(state_dir, sizeof(state_dir), "%s/state", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(mkdir(deep, 0755), 0);
    assert_int_equal(mkdir(state_dir, 0755), 0);
    touch(dir, "app.log", "x", 2000000000);
    touch(dir, "app.log.1", "x", 1900000000);
    touch(dir, "app.log.2.gz", "x", 2100000000);
    touch(sub, "b.log", "x", 1800000000);
    touch(deep, "c.log", "x", 1700000000);
    touch(state_dir, "s.log", "x", 1700000000);

    char pattern[512];
    struct tail_match_list l = {0};
    snprintf(pattern, sizeof(pattern), "%s/app.log*", dir);
    struct tail_glob *g = compile_ok(pattern, NULL);
    assert_int_equal(tail_glob_expand(g, NULL, &l), 0);
    assert_int_equal(l.n, 2);
    assert_true(listed(&l, dir, "app.log") && listed(&l, dir, "app.log.1"));
    /* Newest by modification time: app.log (the .gz is newer but never matches). */
    char want[512];
    snprintf(want, sizeof(want), "%s/app.log", dir);
    assert_string_equal(l.v[l.newest].path, want);
    assert_int_equal(l.n_dirs, 1);
    assert_string_equal(l.dirs[0], dir);
    tail_glob_free(g);

    snprintf(pattern, sizeof(pattern), "%s/**.log", dir);
    g = compile_ok(pattern, NULL);
    assert_int_equal(tail_glob_expand(g, state_dir, &l), 0);
    assert_int_equal(l.n, 3);
    assert_true(listed(&l, dir, "app.log") && listed(&l, sub, "b.log") &&
                listed(&l, deep, "c.log"));
    assert_false(listed(&l, state_dir, "s.log")); /* the state directory is never tailed */
    tail_glob_free(g);

    snprintf(pattern, sizeof(pattern), "%s/*/b.log", dir);
    g = compile_ok(pattern, NULL);
    assert_int_equal(tail_glob_expand(g, NULL, &l), 0);
    assert_int_equal(l.n, 1);
    assert_true(listed(&l, sub, "b.log"));
    tail_glob_free(g);

    /* A literal path that does not exist yet: no match, its directory to watch. */
    snprintf(pattern, sizeof(pattern), "%s/later.log", dir);
    g = compile_ok(pattern, NULL);
    assert_int_equal(tail_glob_expand(g, NULL, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.n_dirs, 1);
    tail_glob_free(g);
    tail_match_list_release(&l);

    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_fingerprints(void **state)
{
    (void)state;
    char path[] = "/tmp/osprey-fp-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char data[3000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)('a' + i % 26);
    assert_int_equal(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));

    struct tail_fp head, tail;
    assert_int_equal(tail_fp_head(fd, 3000, &head), 0);
    assert_int_equal(head.len, CHECKPOINT_FP_BYTES);
    assert_true(head.hash == checkpoint_hash(data, CHECKPOINT_FP_BYTES));
    assert_int_equal(tail_fp_tail(fd, 100, &tail), 0);
    assert_int_equal(tail.len, 100);
    assert_true(tail.hash == checkpoint_hash(data, 100));
    assert_int_equal(tail_fp_tail(fd, 2500, &tail), 0);
    assert_true(tail.hash ==
                checkpoint_hash(data + 2500 - CHECKPOINT_FP_BYTES, CHECKPOINT_FP_BYTES));

    struct checkpoint_entry e = {.offset = 2500,
                                 .head_len = head.len,
                                 .head_hash = head.hash,
                                 .tail_len = tail.len,
                                 .tail_hash = tail.hash};
    assert_true(tail_fp_verify(fd, 3000, &e));
    assert_false(tail_fp_verify(fd, 2000, &e)); /* shorter than the offset */
    /* One byte changed before the offset: another file. */
    assert_int_equal(pwrite(fd, "Z", 1, 2000), 1);
    assert_false(tail_fp_verify(fd, 3000, &e));
    assert_int_equal(pwrite(fd, &data[2000], 1, 2000), 1);
    assert_true(tail_fp_verify(fd, 3000, &e));
    /* One byte changed in the head. */
    assert_int_equal(pwrite(fd, "Z", 1, 5), 1);
    assert_false(tail_fp_verify(fd, 3000, &e));
    close(fd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_semantics), cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_excluded),        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_fingerprints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
