/*
 * Placeholder expansion in log group and stream names (collectors/log_names): every
 * placeholder with and without instance metadata, literal braces, the default stream
 * name, unknown placeholders and the 512-byte limit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "collectors/log_names.h"

/* 2026-12-04 12:00:00 UTC: the same date in every time zone from UTC-11 to UTC+11. */
#define NOON_NS (1796385600ull * 1000000000ull)

static char out[LOG_NAMES_MAX + 64];

static const char *expand(const char *tmpl, const struct plugin_env *env)
{
    int r = log_names_expand(tmpl, env, NOON_NS, out, sizeof(out));
    if (r < 0)
        fail_msg("'%s' -> %d", tmpl, r);
    assert_int_equal((size_t)r, strlen(out));
    return out;
}

static void test_plain_and_literal_braces(void **state)
{
    (void)state;
    struct plugin_env env = {.hostname = "web-1"};
    assert_string_equal(expand("/var/log/app", &env), "/var/log/app");
    /* Braces that do not form a placeholder name are text. */
    assert_string_equal(expand("a{b", &env), "a{b");
    assert_string_equal(expand("{}x{", &env), "{}x{");
    assert_string_equal(expand("{Hostname}", &env), "{Hostname}");
    assert_string_equal(expand("{{hostname}}", &env), "{web-1}");
}

static void test_with_instance_meta(void **state)
{
    (void)state;
    struct instance_meta m = {.instance_id = "i-0123456789abcdef0", .region = "eu-west-1"};
    struct plugin_env env = {.hostname = "web-1", .instance = &m};
    assert_string_equal(expand("{instance_id}", &env), "i-0123456789abcdef0");
    assert_string_equal(expand("{hostname}_{instance_id}", &env), "web-1_i-0123456789abcdef0");
    /* The metadata region only when the configuration names none. */
    assert_string_equal(expand("{aws_region}", &env), "eu-west-1");
    env.region = "us-east-2";
    assert_string_equal(expand("{aws_region}", &env), "us-east-2");
    assert_string_equal(expand("", &env), "i-0123456789abcdef0");
    assert_string_equal(expand(NULL, &env), "i-0123456789abcdef0");
}

static void test_without_instance_meta(void **state)
{
    (void)state;
    struct plugin_env env = {.hostname = "web-1"};
    /* As the CloudWatch agent does off EC2. */
    assert_string_equal(expand("{instance_id}", &env), "i-UNKNOWN");
    assert_string_equal(expand("{aws_region}", &env), "UNKNOWN-REGION");
    /* Osprey's default stream off EC2 is the host, not a shared "i-UNKNOWN". */
    assert_string_equal(expand("", &env), "web-1");
    struct plugin_env none = {0};
    char host[256] = "";
    assert_int_equal(gethostname(host, sizeof(host)), 0);
    assert_string_equal(expand("", &none), host);
    assert_string_equal(expand("{hostname}", &none), host);
    assert_string_equal(expand("{hostname}", NULL), host);
}

static void test_local_hostname_ignores_configured_name(void **state)
{
    (void)state;
    struct plugin_env env = {.hostname = "configured-name"};
    char host[256] = "";
    assert_int_equal(gethostname(host, sizeof(host)), 0);
    assert_string_equal(expand("{local_hostname}", &env), host);
    assert_string_equal(expand("{hostname}", &env), "configured-name");
}

static void test_ip_address(void **state)
{
    (void)state;
    /* The expected value, found independently: the first IPv4 that is not 127/8. */
    char want[INET_ADDRSTRLEN] = "UNKNOWN-IP";
    struct ifaddrs *list = NULL;
    assert_int_equal(getifaddrs(&list), 0);
    for (struct ifaddrs *i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        struct in_addr a = ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr;
        if ((i->ifa_flags & IFF_LOOPBACK) || (ntohl(a.s_addr) >> 24) == 127)
            continue;
        inet_ntop(AF_INET, &a, want, sizeof(want));
        break;
    }
    freeifaddrs(list);
    struct plugin_env env = {.hostname = "h"};
    assert_string_equal(expand("{ip_address}", &env), want);
    assert_true(strncmp(out, "127.", 4) != 0);
}

static void test_date(void **state)
{
    (void)state;
    struct plugin_env env = {.hostname = "h"};
    time_t t = (time_t)(NOON_NS / 1000000000ull);
    struct tm tm;
    assert_non_null(localtime_r(&t, &tm));
    char want[32];
    strftime(want, sizeof(want), "app-%Y-%m-%d", &tm);
    assert_string_equal(expand("app-{date}", &env), want);
    /* With TZ unset or UTC the date is the UTC one. */
    if (tm.tm_gmtoff == 0)
        assert_string_equal(out, "app-2026-12-04");
}

static void test_unknown_placeholder(void **state)
{
    (void)state;
    struct plugin_env env = {.hostname = "h"};
    assert_int_equal(log_names_expand("x-{instanceid}", &env, NOON_NS, out, sizeof(out)), -EINVAL);
    char err[256];
    assert_int_equal(log_names_check("{hostname}/{account_id}", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "unknown placeholder '{account_id}'"));
    assert_int_equal(log_names_check("{hostname}/{date}/a{b", err, sizeof(err)), 0);
    assert_string_equal(err, "");
}

static void test_length_limit(void **state)
{
    (void)state;
    char host[300];
    memset(host, 'h', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    struct plugin_env env = {.hostname = host};
    char tmpl[600];
    memset(tmpl, 'g', LOG_NAMES_MAX);
    tmpl[LOG_NAMES_MAX] = '\0';
    /* Exactly 512 bytes fit; 513 do not, whether literal or from a placeholder. */
    assert_int_equal(log_names_expand(tmpl, &env, NOON_NS, out, sizeof(out)), LOG_NAMES_MAX);
    strcat(tmpl, "g");
    assert_int_equal(log_names_expand(tmpl, &env, NOON_NS, out, sizeof(out)), -ENAMETOOLONG);
    /* The expanded host name is 299 bytes: 299 + 213 = 512 fits, 214 does not. */
    memset(tmpl, 'g', 213);
    snprintf(tmpl + 213, sizeof(tmpl) - 213, "{hostname}");
    assert_int_equal(log_names_expand(tmpl, &env, NOON_NS, out, sizeof(out)), 512);
    memset(tmpl, 'g', 214);
    snprintf(tmpl + 214, sizeof(tmpl) - 214, "{hostname}");
    assert_int_equal(log_names_expand(tmpl, &env, NOON_NS, out, sizeof(out)), -ENAMETOOLONG);
    /* A small buffer is a limit too, and the output stays a string. */
    char small[8];
    assert_int_equal(log_names_expand("{hostname}", &env, NOON_NS, small, sizeof(small)),
                     -ENAMETOOLONG);
    assert_true(strlen(small) < sizeof(small));
    assert_int_equal(log_names_expand("abcdefg", &env, NOON_NS, small, sizeof(small)), 7);
    assert_string_equal(small, "abcdefg");
}

static void test_default_group(void **state)
{
    (void)state;
    char g[LOG_NAMES_MAX + 1];
    assert_int_equal(log_names_default_group("/tmp/TestLogFile.log.2017-07-11-14", g, sizeof(g)),
                     20);
    assert_string_equal(g, "/tmp/TestLogFile.log");
    log_names_default_group("/var/log/messages", g, sizeof(g));
    assert_string_equal(g, "/var/log/messages");
    /* A period in a directory name is not the final one of the file name. */
    log_names_default_group("/opt/app.d/current", g, sizeof(g));
    assert_string_equal(g, "/opt/app.d/current");
    log_names_default_group("/var/log/app*.log", g, sizeof(g));
    assert_string_equal(g, "/var/log/app*");
    char small[4];
    assert_int_equal(log_names_default_group("/var/x", small, sizeof(small)), -ENAMETOOLONG);
    assert_string_equal(small, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_literal_braces),
        cmocka_unit_test(test_with_instance_meta),
        cmocka_unit_test(test_without_instance_meta),
        cmocka_unit_test(test_local_hostname_ignores_configured_name),
        cmocka_unit_test(test_ip_address),
        cmocka_unit_test(test_date),
        cmocka_unit_test(test_unknown_placeholder),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_default_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
