/*
 * Tests for the StatsD listener: the line parser (collectors/statsd_parse.c), the
 * aggregation table (collectors/statsd_table.c) and the collector itself
 * (collectors/statsd.c) on a real libuv loop, fed through a real UDP socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/clock.h"
#include "agent/config.h"
#include "agent/plugin.h"
#include "agent/record.h"
#include "agent/ring.h"
#include "collectors/collector.h"
#include "collector_test.h"
#include "collectors/statsd_parse.h"
#include "collectors/statsd_table.h"

extern const struct collector_type collector_statsd;

/* ---- parser ----------------------------------------------------------------------- */

static struct statsd_line L;

static int parse(const char *s)
{
    return statsd_parse_line(s, strlen(s), &L);
}

static void assert_parses(const char *s)
{
    int r = parse(s);
    if (r != 0)
        fail_msg("'%s' refused: %s", s, statsd_reason_names[L.reason]);
}

static void assert_refused(const char *s, enum statsd_reason why)
{
    int r = parse(s);
    if (r != -EBADMSG)
        fail_msg("'%s' accepted", s);
    if (L.reason != why)
        fail_msg("'%s': reason %s, want %s", s, statsd_reason_names[L.reason],
                 statsd_reason_names[why]);
}

static void assert_slice(const char *p, size_t n, const char *want)
{
    if (strlen(want) != n || memcmp(p, want, n) != 0)
        fail_msg("got '%.*s', want '%s'", (int)n, p, want);
}

static void assert_tag(size_t i, const char *k, const char *v)
{
    assert_true(i < L.n_tags);
    assert_slice(L.tags[i].key, L.tags[i].key_len, k);
    assert_slice(L.tags[i].value, L.tags[i].value_len, v);
}

static void test_parse_types_and_values(void **state)
{
    (void)state;
    assert_parses("hits:1|c");
    assert_slice(L.name, L.name_len, "hits");
    assert_int_equal(L.n_samples, 1);
    assert_int_equal(L.n_tags, 0);
    assert_int_equal(L.samples[0].type, STATSD_COUNTER);
    assert_true(L.samples[0].value == 1 && L.samples[0].rate == 1);

    /* Counters: truncated, divided by the rate, truncated again (the agent's int64). */
    assert_parses("hits:3|c|@0.5");
    assert_true(L.samples[0].value == 6 && L.samples[0].rate == 0.5);
    assert_parses("hits:1.9|c|@0.3");
    assert_true(L.samples[0].value == 3);
    assert_parses("hits:2.7|c");
    assert_true(L.samples[0].value == 2);
    assert_parses("hits:-3|c");
    assert_true(L.samples[0].value == -3);
    assert_parses("hits:+4|c");
    assert_true(L.samples[0].value == 4 && !L.samples[0].relative);
    assert_parses("hits:1e3|c");
    assert_true(L.samples[0].value == 1000);
    assert_parses("hits:5|c|@0"); /* @0: unsampled, as the agent treats it */
    assert_true(L.samples[0].value == 5 && L.samples[0].rate == 1);
    assert_parses("hits:5|c|@1");
    assert_true(L.samples[0].value == 5);

    assert_parses("temp:21.5|g");
    assert_int_equal(L.samples[0].type, STATSD_GAUGE);
    assert_true(L.samples[0].value == 21.5 && !L.samples[0].relative);
    assert_parses("temp:+3|g");
    assert_true(L.samples[0].value == 3 && L.samples[0].relative);
    assert_parses("temp:-2.5|g");
    assert_true(L.samples[0].value == -2.5 && L.samples[0].relative);
    assert_parses("temp:0|g|@0.5"); /* a rate on a gauge is read and ignored */
    assert_true(L.samples[0].value == 0 && L.samples[0].rate == 0.5);

    assert_parses("lat:12.5|ms|@0.25");
    assert_int_equal(L.samples[0].type, STATSD_TIMER);
    assert_true(L.samples[0].value == 12.5 && L.samples[0].rate == 0.25);
    assert_parses("size:7|h");
    assert_int_equal(L.samples[0].type, STATSD_HISTOGRAM);
    assert_true(L.samples[0].value == 7);

    assert_parses("users:alice|s");
    assert_int_equal(L.samples[0].type, STATSD_SET);
    assert_slice(L.samples[0].str, L.samples[0].str_len, "alice");
    assert_parses("users:|s");
    assert_int_equal(L.samples[0].str_len, 0);

    /* Several values for one name; each may carry its own rate. */
    assert_parses("req:1|c|@0.5:20|ms:3|g");
    assert_int_equal(L.n_samples, 3);
    assert_int_equal(L.samples[0].type, STATSD_COUNTER);
    assert_true(L.samples[0].value == 2);
    assert_int_equal(L.samples[1].type, STATSD_TIMER);
    assert_true(L.samples[1].value == 20 && L.samples[1].rate == 1);
    assert_int_equal(L.samples[2].type, STATSD_GAUGE);

    /* Fields after the rate are ignored, as the agent does. */
    assert_parses("x:1|c|@0.5|whatever");
    assert_true(L.samples[0].value == 2);
    /* Spaces inside a name are allowed (CloudWatch takes them). */
    assert_parses("my metric:1|c");
    assert_slice(L.name, L.name_len, "my metric");
}

static void test_parse_tags(void **state)
{
    (void)state;
    assert_parses("hits:1|c|#team:a:b,env:prod,bare");
    assert_int_equal(L.n_tags, 3);
    assert_tag(0, "bare", "<empty>");
    assert_tag(1, "env", "prod");
    assert_tag(2, "team", "a:b"); /* split at the first ':' */

    /* Tags may come before the rate, or even first: they are cut out before ':' and '|'. */
    assert_parses("hits:1|c|#env:prod|@0.5");
    assert_true(L.samples[0].value == 2);
    assert_tag(0, "env", "prod");
    assert_parses("#env:prod|hits:1|c");
    assert_slice(L.name, L.name_len, "hits");
    assert_tag(0, "env", "prod");

    /* Influx-style bucket tags; items without exactly one '=' are ignored. */
    assert_parses("hits,zone=b,host=h1,junk,a=b=c:1|c");
    assert_slice(L.name, L.name_len, "hits");
    assert_int_equal(L.n_tags, 2);
    assert_tag(0, "host", "h1");
    assert_tag(1, "zone", "b");

    /* Same key twice: the last written wins, DogStatsD tags after bucket tags. */
    assert_parses("hits,env=bucket:1|c|#env:a,env:b");
    assert_int_equal(L.n_tags, 1);
    assert_tag(0, "env", "b");

    /* Empty keys are ignored; an empty value becomes "<empty>". */
    assert_parses("hits:1|c|#:x,,k:");
    assert_int_equal(L.n_tags, 1);
    assert_tag(0, "k", "<empty>");

    /* Two tag segments add up. */
    assert_parses("hits:1|c|#b:2|#a:1");
    assert_int_equal(L.n_tags, 2);
    assert_tag(0, "a", "1");
    assert_tag(1, "b", "2");

    /* Sorting is bytewise on the key, a prefix first. */
    assert_parses("m:1|g|#ab:1,a:2,B:3");
    assert_tag(0, "B", "3");
    assert_tag(1, "a", "2");
    assert_tag(2, "ab", "1");
}

static void test_parse_refusals(void **state)
{
    (void)state;
    assert_refused("hits", STATSD_R_NO_COLON);
    assert_refused("hits|c", STATSD_R_NO_COLON);
    assert_refused("#env:prod", STATSD_R_NO_COLON);
    assert_refused("hits:1", STATSD_R_NO_PIPE);
    assert_refused("hits:1|c:", STATSD_R_NO_PIPE);
    assert_refused("hits:1|c:2", STATSD_R_NO_PIPE);
    assert_refused("hits:", STATSD_R_NO_PIPE);
    assert_refused("hits:1|x", STATSD_R_BAD_TYPE);
    assert_refused("hits:1|", STATSD_R_BAD_TYPE);
    assert_refused("hits:1|C", STATSD_R_BAD_TYPE);
    assert_refused("hits:1|d", STATSD_R_BAD_TYPE); /* DogStatsD distributions: the agent refuses */
    assert_refused("hits:1|cc", STATSD_R_BAD_TYPE);
    assert_refused("hits:x|c", STATSD_R_BAD_VALUE);
    assert_refused("hits:|c", STATSD_R_BAD_VALUE);
    assert_refused("hits: 1|c", STATSD_R_BAD_VALUE);
    assert_refused("hits:1x|g", STATSD_R_BAD_VALUE);
    assert_refused("hits:nan|g", STATSD_R_BAD_VALUE);
    assert_refused("hits:inf|g", STATSD_R_BAD_VALUE);
    assert_refused("hits:0x10|g", STATSD_R_BAD_VALUE);
    assert_refused("hits:1e400|g", STATSD_R_BAD_VALUE);
    assert_refused("hits:1e19|c", STATSD_R_BAD_VALUE);
    assert_refused("hits:1e18|c|@0.01", STATSD_R_BAD_VALUE); /* overflows once scaled */
    assert_refused("hits:1.2.3|ms", STATSD_R_BAD_VALUE);
    assert_refused("hits:1|c|0.5", STATSD_R_BAD_RATE);
    assert_refused("hits:1|c|@", STATSD_R_BAD_RATE);
    assert_refused("hits:1|c|@2", STATSD_R_BAD_RATE);
    assert_refused("hits:1|c|@-0.1", STATSD_R_BAD_RATE);
    assert_refused("hits:1|c|@abc", STATSD_R_BAD_RATE);
    assert_refused("hits:1|c|", STATSD_R_BAD_RATE);
    assert_refused("lat:+1|ms", STATSD_R_SIGN_NOT_ALLOWED);
    assert_refused("lat:-1|ms", STATSD_R_SIGN_NOT_ALLOWED);
    assert_refused("size:-1|h", STATSD_R_SIGN_NOT_ALLOWED);
    assert_refused("users:+bob|s", STATSD_R_SIGN_NOT_ALLOWED);
    assert_refused(":1|c", STATSD_R_BAD_NAME);
    assert_refused(",a=b:1|c", STATSD_R_BAD_NAME);
    assert_refused("a#b:1|c", STATSD_R_BAD_NAME);
    assert_refused("a@b:1|c", STATSD_R_BAD_NAME);
    assert_refused("a|b:1|c", STATSD_R_BAD_NAME);
    assert_refused("a\x01"
                   "b:1|c",
                   STATSD_R_BAD_NAME);
    /* One bad value refuses the whole line. */
    assert_refused("req:1|c:oops|ms", STATSD_R_BAD_VALUE);

    char big[2048];
    memset(big, 'n', 256);
    strcpy(big + 256, ":1|c");
    assert_refused(big, STATSD_R_BAD_NAME);
    memset(big, 'n', 255);
    strcpy(big + 255, ":1|c");
    assert_parses(big);

    /* Tags: key over 255, value over 1024, control characters, more than 32. */
    snprintf(big, sizeof(big), "m:1|c|#%0256d:v", 0);
    assert_refused(big, STATSD_R_BAD_TAG);
    snprintf(big, sizeof(big), "m:1|c|#k:%01025d", 0);
    assert_refused(big, STATSD_R_BAD_TAG);
    snprintf(big, sizeof(big), "m:1|c|#k:%01024d", 0);
    assert_parses(big);
    assert_refused("m:1|c|#k:a\tb", STATSD_R_BAD_TAG);
    assert_refused("m,k=a\x02:1|c", STATSD_R_BAD_TAG);
    size_t n = (size_t)snprintf(big, sizeof(big), "m:1|c|#");
    for (int i = 0; i < 33; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "%sk%d:v", i ? "," : "", i);
    assert_refused(big, STATSD_R_BAD_TAG);
    big[n - strlen(",k32:v")] = '\0';
    assert_parses(big);
    assert_int_equal(L.n_tags, 32);

    /* At most STATSD_MAX_SAMPLES values per line. */
    n = (size_t)snprintf(big, sizeof(big), "m");
    for (int i = 0; i < STATSD_MAX_SAMPLES; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, ":%d|c", i);
    assert_parses(big);
    assert_int_equal(L.n_samples, STATSD_MAX_SAMPLES);
    snprintf(big + n, sizeof(big) - n, ":1|c");
    assert_refused(big, STATSD_R_TOO_MANY_VALUES);
}

static void test_next_line(void **state)
{
    (void)state;
    const char dgram[] = "a:1|c\n\n  b:2|g \r\n\t\n c:3|ms";
    size_t pos = 0, len;
    const char *line;
    assert_true(statsd_next_line(dgram, strlen(dgram), &pos, &line, &len));
    assert_slice(line, len, "a:1|c");
    assert_true(statsd_next_line(dgram, strlen(dgram), &pos, &line, &len));
    assert_slice(line, len, "b:2|g");
    assert_true(statsd_next_line(dgram, strlen(dgram), &pos, &line, &len));
    assert_slice(line, len, "c:3|ms");
    assert_false(statsd_next_line(dgram, strlen(dgram), &pos, &line, &len));
    pos = 0;
    assert_false(statsd_next_line(" \n\r\n", 4, &pos, &line, &len));
    pos = 0;
    assert_false(statsd_next_line("", 0, &pos, &line, &len));
    /* A NUL inside a datagram is just a byte of a line (refused later by the parser). */
    pos = 0;
    assert_true(statsd_next_line("a\0b\n", 4, &pos, &line, &len));
    assert_int_equal(len, 3);
}

/* ---- table ------------------------------------------------------------------------ */

static struct statsd_table T;

static const char *key_of(const char *line, const char *sep, size_t *ret_len)
{
    static char key[STATSD_KEY_MAX];
    assert_parses(line);
    assert_int_equal(statsd_key_build(&L, sep, key, sizeof(key), ret_len), 0);
    return key;
}

/* Parse a line and add all its samples; returns the first non-zero add result. */
static int feed(const char *line)
{
    size_t n;
    const char *key = key_of(line, "_", &n);
    int ret = 0;
    for (size_t i = 0; i < L.n_samples; i++) {
        int r = statsd_table_add(&T, key, n, L.n_tags, &L.samples[i]);
        if (r && !ret)
            ret = r;
    }
    return ret;
}

static const struct statsd_entry *find_entry(const char *name, enum statsd_type type)
{
    const struct statsd_entry *found = NULL;
    for (size_t i = 0; i < statsd_table_count(&T); i++) {
        const struct statsd_entry *e = statsd_table_entry(&T, i);
        if (e->type == type && e->key_len == strlen(name) + 1 &&
            strcmp(statsd_entry_key(&T, e), name) == 0) {
            assert_null(found);
            found = e;
        }
    }
    if (!found)
        fail_msg("no %s series '%s'", statsd_type_name(type), name);
    return found;
}

static void test_key_build(void **state)
{
    (void)state;
    size_t n;
    const char *k = key_of("my.app.hits:1|c|#b:2,a:1", "_", &n);
    const char want[] = "my_app_hits\0a\0001\0b\0002";
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(k, want, n);
    k = key_of("my.app.hits:1|c", ".", &n);
    assert_string_equal(k, "my.app.hits");
    k = key_of("my.app:1|c", "::", &n);
    assert_string_equal(k, "my::app");

    char key[STATSD_KEY_MAX];
    assert_parses("...:1|c");
    assert_int_equal(statsd_key_build(&L, "", key, sizeof(key), &n), -ENAMETOOLONG);
    /* 200 chars with 50 dots made 3 bytes longer each: over 255 once published. */
    char line[300];
    memset(line, 'a', 200);
    for (int i = 0; i < 50; i++)
        line[i * 4 + 1] = '.';
    strcpy(line + 200, ":1|c");
    assert_parses(line);
    assert_int_equal(statsd_key_build(&L, "____", key, sizeof(key), &n), -ENAMETOOLONG);
    assert_int_equal(statsd_key_build(&L, "_", key, sizeof(key), &n), 0);
    /* A buffer too small for the tags. */
    assert_parses("m:1|c|#key:value");
    assert_int_equal(statsd_key_build(&L, "_", key, 8, &n), -ENAMETOOLONG);
}

static void test_table_aggregates(void **state)
{
    (void)state;
    assert_int_equal(statsd_table_init(&T, 64, 64, 64 * 256, 42), 0);

    assert_int_equal(feed("hits:1|c"), 0);
    assert_int_equal(feed("hits:2|c|@0.5"), 0);
    assert_int_equal(feed("hits:-1|c"), 0);
    assert_true(find_entry("hits", STATSD_COUNTER)->value == 4);

    assert_int_equal(feed("temp:+5|g"), 0); /* new in this interval: from 0 */
    assert_true(find_entry("temp", STATSD_GAUGE)->value == 5);
    assert_int_equal(feed("temp:10|g"), 0);
    assert_int_equal(feed("temp:-2.5|g"), 0);
    assert_int_equal(feed("temp:+1|g"), 0);
    assert_true(find_entry("temp", STATSD_GAUGE)->value == 8.5);

    assert_int_equal(feed("lat:10|ms"), 0);
    assert_int_equal(feed("lat:30|ms|@0.5"), 0);
    assert_int_equal(feed("lat:2|ms|@0.25"), 0);
    const struct statsd_entry *e = find_entry("lat", STATSD_TIMER);
    assert_true(e->count == 1 + 2 + 4);
    assert_true(e->sum == 10 + 60 + 8);
    assert_true(e->min == 2 && e->max == 30);

    assert_int_equal(feed("size:-3e0|g"), 0); /* a gauge named like the histogram below */
    assert_int_equal(feed("size:7|h"), 0);
    e = find_entry("size", STATSD_HISTOGRAM);
    assert_true(e->count == 1 && e->sum == 7 && e->min == 7 && e->max == 7);
    assert_true(find_entry("size", STATSD_GAUGE)->value == -3);

    assert_int_equal(feed("users:alice|s"), 0);
    assert_int_equal(feed("users:bob|s"), 0);
    assert_int_equal(feed("users:alice|s"), 0);
    assert_int_equal(feed("users:|s"), 0);
    assert_int_equal(find_entry("users", STATSD_SET)->set_count, 3);
    /* The same member in another set counts there too. */
    assert_int_equal(feed("users:alice|s|#env:prod"), 0);
    assert_int_equal(feed("users:alice|s|#env:prod"), 0);
    assert_int_equal(find_entry("users", STATSD_SET)->set_count, 3);

    /* Tag order does not make another series; tag values do. */
    assert_int_equal(feed("req:1|c|#a:1,b:2"), 0);
    assert_int_equal(feed("req:1|c|#b:2,a:1"), 0);
    assert_int_equal(feed("req,a=1:1|c|#b:2"), 0);
    assert_int_equal(feed("req:1|c|#a:1,b:3"), 0);
    size_t with_a1_b2 = 0, with_b3 = 0;
    for (size_t i = 0; i < statsd_table_count(&T); i++) {
        const struct statsd_entry *r = statsd_table_entry(&T, i);
        const char *k = statsd_entry_key(&T, r);
        if (strcmp(k, "req") != 0)
            continue;
        assert_int_equal(r->n_tags, 2);
        const char want_b2[] = "req\0a\0001\0b\0002";
        if (r->key_len == sizeof(want_b2) && memcmp(k, want_b2, r->key_len) == 0) {
            assert_true(r->value == 3);
            with_a1_b2++;
        } else {
            with_b3++;
        }
    }
    assert_int_equal(with_a1_b2, 1);
    assert_int_equal(with_b3, 1);

    /* Reset forgets everything; the next interval starts from scratch. */
    size_t before = statsd_table_count(&T);
    assert_true(before >= 8);
    statsd_table_reset(&T);
    assert_int_equal(statsd_table_count(&T), 0);
    assert_int_equal(feed("temp:+1|g"), 0);
    assert_true(find_entry("temp", STATSD_GAUGE)->value == 1);
    assert_int_equal(feed("users:alice|s"), 0);
    assert_int_equal(find_entry("users", STATSD_SET)->set_count, 1);
    statsd_table_release(&T);
    statsd_table_release(&T); /* idempotent */
}

static void test_table_capacity(void **state)
{
    (void)state;
    assert_int_equal(statsd_table_init(&T, 0, 1, 1, 0), -EINVAL);
    assert_int_equal(statsd_table_init(&T, 3, 4, 3 * 256, 7), 0);
    assert_int_equal(feed("a:1|c"), 0);
    assert_int_equal(feed("b:1|c"), 0);
    assert_int_equal(feed("s:x|s"), 0);
    /* Full: a new series is refused, existing ones keep aggregating. */
    assert_int_equal(feed("c:1|c"), -ENOSPC);
    assert_int_equal(feed("a:1|g"), -ENOSPC); /* another type is another series */
    assert_int_equal(feed("a:5|c"), 0);
    assert_true(find_entry("a", STATSD_COUNTER)->value == 6);
    assert_int_equal(statsd_table_count(&T), 3);
    /* Set members: 4 in all, then only known ones. */
    assert_int_equal(feed("s:y|s"), 0);
    assert_int_equal(feed("s:z|s"), 0);
    assert_int_equal(feed("s:w|s"), 0);
    assert_int_equal(feed("s:v|s"), -E2BIG);
    assert_int_equal(feed("s:x|s"), 0);
    assert_int_equal(find_entry("s", STATSD_SET)->set_count, 4);

    /* Many intervals: the generation counter, not a sweep, frees the slots. */
    for (int i = 0; i < 1000; i++) {
        statsd_table_reset(&T);
        assert_int_equal(feed(i % 2 ? "c:1|c" : "d:1|c"), 0);
        assert_int_equal(feed("e:1|c"), 0);
        assert_int_equal(feed("f:1|c"), 0);
        assert_int_equal(feed("g:1|c"), -ENOSPC);
        assert_int_equal(statsd_table_count(&T), 3);
    }
    statsd_table_release(&T);

    /* The key arena is a limit too. */
    assert_int_equal(statsd_table_init(&T, 10, 10, 16, 7), 0);
    assert_int_equal(feed("abcdefghij:1|c"), 0); /* 11 bytes */
    assert_int_equal(feed("klmnopqrst:1|c"), -ENOSPC);
    assert_int_equal(feed("abc:1|c"), 0);
    statsd_table_release(&T);
}

/* ---- collector on a loop, through a UDP socket ------------------------------------- */

struct point {
    char name[METRIC_MAX_NAME + 1];
    enum metric_unit unit;
    enum metric_value_kind kind;
    double value, count, sum, min, max;
    uint8_t resolution;
    char dims[512]; /* "k=v,k=v" in point order */
};

struct harness {
    uv_loop_t loop;
    struct ring ring;
    struct collect_output out;
    struct plugin_env env;
    struct cfg_doc doc;
    struct cfg_errors errs;
    struct collector *c;
    int port;
    int sock;
    struct point got[64];
    size_t n_got;
};

static int free_udp_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int harness_create(struct harness *h, const char *statsd_json)
{
    memset(h, 0, sizeof(*h));
    h->sock = -1;
    h->env = (struct plugin_env){
        .hostname = "testhost",
        .proc_root = "/proc",
        .metrics_namespace = "CWAgent",
        .metrics_interval_ns = 60 * NS_PER_SEC,
    };
    char json[1024];
    snprintf(json, sizeof(json), "{\"metrics\": {\"metrics_collected\": {\"statsd\": %s}}}",
             statsd_json);
    cfg_errors_init(&h->errs);
    assert_int_equal(cfg_doc_load_buffer(&h->doc, "test.json", json, strlen(json), &h->errs), 0);
    json_t *obj = json_object_get(
        json_object_get(json_object_get(h->doc.root, "metrics"), "metrics_collected"), "statsd");
    struct plugin_cfg cfg = {
        .doc = &h->doc, .path = collector_statsd.config_path, .errs = &h->errs};
    return collector_create(&collector_statsd, "statsd", 9, &h->env, &cfg, obj, &h->c);
}

static void harness_start(struct harness *h, const char *extra_json)
{
    int port = free_udp_port();
    char json[512];
    snprintf(json, sizeof(json), "{\"service_address\": \"127.0.0.1:%d\"%s%s}", port,
             extra_json ? ", " : "", extra_json ? extra_json : "");
    int r = harness_create(h, json);
    for (size_t i = 0; i < h->errs.n; i++)
        fprintf(stderr, "config: %s\n", h->errs.msgs[i]);
    assert_int_equal(r, 0);
    h->port = port;
    assert_int_equal(uv_loop_init(&h->loop), 0);
    assert_int_equal(ring_init(&h->ring, 1u << 18), 0);
    h->out.ring = &h->ring;
    assert_int_equal(collector_start(h->c, &h->loop, &h->out), 0);
    assert_int_equal(h->c->open_handles, 2); /* socket + flush timer */
    h->sock = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(h->sock >= 0);
    uv_run(&h->loop, UV_RUN_NOWAIT); /* the timer's first tick flushes an empty table */
}

static void send_dgram(struct harness *h, const void *data, size_t len)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)h->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(sendto(h->sock, data, len, 0, (struct sockaddr *)&a, sizeof(a)), (ssize_t)len);
}

static void send_str(struct harness *h, const char *s)
{
    send_dgram(h, s, strlen(s));
}

/* Run the loop until the collector has counted `want` inputs in all. */
static void pump_until(struct harness *h, uint64_t want)
{
    for (int i = 0; i < 2000 && selfstats_get(&h->c->stats.records_in) < want; i++) {
        uv_run(&h->loop, UV_RUN_NOWAIT);
        if (selfstats_get(&h->c->stats.records_in) < want)
            usleep(1000);
    }
    assert_int_equal(selfstats_get(&h->c->stats.records_in), want);
}

static void drain(struct harness *h)
{
    const void *rec;
    size_t len;
    while ((rec = ring_peek(&h->ring, &len)) != NULL) {
        struct record_view v;
        assert_int_equal(record_decode(rec, len, &v), 0);
        assert_int_equal(v.hdr.kind, RECORD_METRIC);
        assert_int_equal(v.hdr.source, 9);
        assert_true(h->n_got < sizeof(h->got) / sizeof(h->got[0]));
        struct point *g = &h->got[h->n_got++];
        memset(g, 0, sizeof(*g));
        const struct metric_point *p = &v.u.metric;
        assert_string_equal(p->namespace_, "CWAgent");
        snprintf(g->name, sizeof(g->name), "%s", p->name);
        g->unit = p->unit;
        g->kind = p->value_kind;
        g->value = p->value;
        g->count = p->count;
        g->sum = p->sum;
        g->min = p->min;
        g->max = p->max;
        g->resolution = p->storage_resolution;
        size_t n = 0;
        for (size_t d = 0; d < p->n_dims; d++)
            n += (size_t)snprintf(g->dims + n, sizeof(g->dims) - n, "%s%s=%s", d ? "," : "",
                                  p->dims[d].name, p->dims[d].value);
        ring_consume(&h->ring);
    }
}

static const struct point *point_named(struct harness *h, const char *name, const char *dims)
{
    const struct point *found = NULL;
    for (size_t i = 0; i < h->n_got; i++) {
        if (strcmp(h->got[i].name, name) == 0 && strcmp(h->got[i].dims, dims) == 0) {
            if (found)
                fail_msg("%s {%s} published twice", name, dims);
            found = &h->got[i];
        }
    }
    if (!found) {
        for (size_t i = 0; i < h->n_got; i++)
            fprintf(stderr, "got %s {%s}\n", h->got[i].name, h->got[i].dims);
        fail_msg("%s {%s} not published", name, dims);
    }
    return found;
}

static void harness_release(struct harness *h)
{
    if (h->sock >= 0)
        close(h->sock);
    collector_test_stop(&h->loop, h->c);
    assert_int_equal(uv_loop_close(&h->loop), 0);
    ring_release(&h->ring);
    cfg_doc_release(&h->doc);
    cfg_errors_release(&h->errs);
}

static uint64_t rejects(struct harness *h, enum statsd_reason why)
{
    return selfstats_get(&h->c->stats.rejects[why]);
}

static void test_collector_end_to_end(void **state)
{
    (void)state;
    static struct harness h;
    harness_start(&h, "\"metrics_collection_interval\": 3600");
    send_str(&h, "app.hits:1|c\napp.hits:2|c|@0.5\n");
    send_str(&h, "temp:20|g\ntemp:+2|g\ntemp:-0.5|g|#room:a\n");
    send_str(&h, "lat:10|ms\nlat:30|ms|@0.5\nsize:4|h|#host:other\n");
    send_str(&h, "users:alice|s\nusers:bob|s\nusers:alice|s\n");
    pump_until(&h, 2 + 3 + 3 + 3);
    assert_int_equal(selfstats_dropped_total(&h.c->stats), 0);
    assert_int_equal(collector_flush(h.c), 0);
    drain(&h);
    assert_int_equal(h.n_got, 6);

    const struct point *p = point_named(&h, "app_hits", "host=testhost,metric_type=counter");
    assert_true(p->value == 5);
    assert_int_equal(p->unit, METRIC_UNIT_COUNT);
    assert_int_equal(p->kind, METRIC_VALUE_SINGLE);
    assert_int_equal(p->resolution, 60); /* metrics_aggregation_interval 60 by default */
    p = point_named(&h, "temp", "host=testhost,metric_type=gauge");
    assert_true(p->value == 22);
    assert_int_equal(p->unit, METRIC_UNIT_NONE);
    p = point_named(&h, "temp", "host=testhost,metric_type=gauge,room=a");
    assert_true(p->value == -0.5);
    p = point_named(&h, "lat", "host=testhost,metric_type=timing");
    assert_int_equal(p->kind, METRIC_VALUE_STATS);
    assert_true(p->count == 3 && p->sum == 70 && p->min == 10 && p->max == 30);
    /* A tag named host replaces the host dimension, as the agent's tags do. */
    p = point_named(&h, "size", "host=other,metric_type=histogram");
    assert_true(p->count == 1 && p->sum == 4 && p->min == 4 && p->max == 4);
    p = point_named(&h, "users", "host=testhost,metric_type=set");
    assert_true(p->value == 2);
    assert_int_equal(selfstats_get(&h.c->stats.records_out), 6);

    /* The table was emptied: a flush with no new input publishes nothing. */
    h.n_got = 0;
    assert_int_equal(collector_flush(h.c), 0);
    drain(&h);
    assert_int_equal(h.n_got, 0);
    harness_release(&h);
}

static void test_collector_counts_garbage(void **state)
{
    (void)state;
    static struct harness h;
    harness_start(&h, "\"max_datagram_bytes\": 100, \"metric_separator\": \".\", "
                      "\"metrics_aggregation_interval\": 0, \"max_series\": 2");
    /* Good and bad lines in one datagram: the good ones count. */
    send_str(&h, "ok.a:1|c\nnocolon\nok.a:1|x\nok.a:zz|c\nok.a:1|c|@7\nlat:-1|ms\nb#d:1|c\n"
                 "ok.a:1\nok.a:2|c\n");
    pump_until(&h, 9);
    char big[200];
    memset(big, 'x', sizeof(big));
    memcpy(big, "ok.a:1|c\n", 9);
    send_dgram(&h, big, sizeof(big)); /* over max_datagram_bytes: dropped whole */
    pump_until(&h, 10);
    /* Two series allowed: a third is dropped, the first keeps counting. */
    send_str(&h, "ok.b:1|g\nok.c:1|g\nok.a:4|c\n");
    pump_until(&h, 13);
    /* Binary garbage with a NUL and high bytes. */
    send_dgram(&h, "\x00\xff:1|c\n\xfe", 8);
    pump_until(&h, 15);

    assert_int_equal(rejects(&h, STATSD_R_NO_COLON), 2); /* "nocolon", "\xfe" */
    assert_int_equal(rejects(&h, STATSD_R_BAD_TYPE), 1);
    assert_int_equal(rejects(&h, STATSD_R_BAD_VALUE), 1);
    assert_int_equal(rejects(&h, STATSD_R_BAD_RATE), 1);
    assert_int_equal(rejects(&h, STATSD_R_SIGN_NOT_ALLOWED), 1);
    assert_int_equal(rejects(&h, STATSD_R_BAD_NAME), 2); /* "b#d", the NUL */
    assert_int_equal(rejects(&h, STATSD_R_NO_PIPE), 1);
    assert_int_equal(rejects(&h, STATSD_R_DATAGRAM_TOO_LARGE), 1);
    assert_int_equal(rejects(&h, STATSD_R_TABLE_FULL), 1);
    assert_int_equal(selfstats_get(&h.c->stats.dropped[DROP_MALFORMED]), 9);
    assert_int_equal(selfstats_get(&h.c->stats.dropped[DROP_TOO_LARGE]), 2);
    assert_true(h.c->stats.reject_names == statsd_reason_names);

    assert_int_equal(collector_flush(h.c), 0);
    drain(&h);
    assert_int_equal(h.n_got, 2);
    const struct point *p = point_named(&h, "ok.a", "host=testhost,metric_type=counter");
    assert_true(p->value == 7);
    assert_int_equal(p->resolution, 1); /* metrics_aggregation_interval 0 */
    p = point_named(&h, "ok.b", "host=testhost,metric_type=gauge");
    assert_true(p->value == 1);
    harness_release(&h);
}

static void test_collector_ring_full(void **state)
{
    (void)state;
    static struct harness h;
    harness_start(&h, NULL);
    /* Fill the ring so no point fits, then flush: counted, never blocking. */
    size_t max = ring_max_record(&h.ring);
    while (ring_reserve(&h.ring, max))
        ring_commit(&h.ring);
    send_str(&h, "a:1|c\nb:1|c\nc:1|c\n");
    pump_until(&h, 3);
    assert_int_equal(collector_flush(h.c), 0);
    assert_int_equal(selfstats_get(&h.c->stats.dropped[DROP_RING_FULL]), 3);
    assert_int_equal(selfstats_get(&h.c->stats.records_out), 0);
    const void *rec;
    size_t len;
    while ((rec = ring_peek(&h.ring, &len)) != NULL)
        ring_consume(&h.ring);
    harness_release(&h);
}

static void expect_config_error(const char *json, const char *needle)
{
    static struct harness h;
    int r = harness_create(&h, json);
    assert_int_equal(r, -EINVAL);
    assert_null(h.c);
    bool found = false;
    for (size_t i = 0; i < h.errs.n; i++)
        found |= strstr(h.errs.msgs[i], needle) != NULL;
    if (!found) {
        for (size_t i = 0; i < h.errs.n; i++)
            fprintf(stderr, "config: %s\n", h.errs.msgs[i]);
        fail_msg("no error mentioning '%s' for %s", needle, json);
    }
    cfg_doc_release(&h.doc);
    cfg_errors_release(&h.errs);
}

static void test_collector_config(void **state)
{
    (void)state;
    expect_config_error("{\"service_address\": \"udp://:8125\"}", "not a UDP address");
    expect_config_error("{\"service_address\": \"8125\"}", "not a UDP address");
    expect_config_error("{\"service_address\": \"127.0.0.1:99999\"}", "not a UDP address");
    expect_config_error("{\"service_address\": \"[::1:8125\"}", "not a UDP address");
    expect_config_error("{\"service_address\": \"::1:8125\"}", "not a UDP address");
    expect_config_error("{\"templates\": [\"cpu.* measurement*\"]}", "not supported");
    expect_config_error("{\"measurement\": [\"x\"]}", "not supported");
    expect_config_error("{\"service.name\": \"svc\"}", "not supported");
    expect_config_error("{\"metrics_aggregation_interval\": 200000}",
                        "metrics_aggregation_interval");
    expect_config_error("{\"colour\": 1}", "colour");

    /* The agent's other forms and keys are accepted. */
    const char *ok[] = {
        "{}",
        "{\"service_address\": \":8125\", \"allowed_pending_messages\": 500, "
        "\"metrics_aggregation_interval\": 0, \"metric_separator\": \"\", \"templates\": []}",
        "{\"service_address\": \"[::1]:8125\", \"metrics_collection_interval\": 5}",
        "{\"service_address\": \"localhost:8125\"}",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        static struct harness h;
        int r = harness_create(&h, ok[i]);
        for (size_t j = 0; j < h.errs.n; j++)
            fprintf(stderr, "config: %s\n", h.errs.msgs[j]);
        assert_int_equal(r, 0);
        /* 10 s unless set: the agent's statsd default, not the agent-wide 60 s. */
        assert_int_equal(collector_interval_ns(h.c), (i == 2 ? 5 : 10) * NS_PER_SEC);
        collector_destroy(h.c);
        cfg_doc_release(&h.doc);
        cfg_errors_release(&h.errs);
    }
}

static void test_collector_ipv6_and_any(void **state)
{
    (void)state;
    /* ":port" listens on every interface; a datagram to 127.0.0.1 arrives. */
    static struct harness h;
    int port = free_udp_port();
    char json[128];
    snprintf(json, sizeof(json), "{\"service_address\": \":%d\"}", port);
    assert_int_equal(harness_create(&h, json), 0);
    h.port = port;
    assert_int_equal(uv_loop_init(&h.loop), 0);
    assert_int_equal(ring_init(&h.ring, 1u << 16), 0);
    h.out.ring = &h.ring;
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    h.sock = socket(AF_INET, SOCK_DGRAM, 0);
    send_str(&h, "any:1|c");
    pump_until(&h, 1);
    harness_release(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_types_and_values),
        cmocka_unit_test(test_parse_tags),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_next_line),
        cmocka_unit_test(test_key_build),
        cmocka_unit_test(test_table_aggregates),
        cmocka_unit_test(test_table_capacity),
        cmocka_unit_test(test_collector_end_to_end),
        cmocka_unit_test(test_collector_counts_garbage),
        cmocka_unit_test(test_collector_ring_full),
        cmocka_unit_test(test_collector_config),
        cmocka_unit_test(test_collector_ipv6_and_any),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
