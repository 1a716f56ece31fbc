/*
 * HTTP glue: real requests through libcurl's multi interface on a libuv loop to a real
 * server on 127.0.0.1 (tests/tools/http_fixture_server.py): bodies and headers, status
 * and error-type capture, keep-alive reuse, concurrency, and every transport failure
 * mapped to its error (refused, timeout, reset, truncated, oversized), plus close with
 * requests in flight and a clean loop close.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/clock.h"
#include "exporters/http.h"

static pid_t server_pid;
static int server_port;
static char base_url[64];

struct result {
    bool done;
    long status;
    int error;
    char body[4096];
    size_t body_len;
    char content_type[128];
    char amzn[128];
};

static int start_server(void **state)
{
    (void)state;
    /* A proxy of the machine's must not catch loopback test traffic. */
    const char *proxies[] = {"http_proxy", "https_proxy", "all_proxy",
                             "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
        unsetenv(proxies[i]);
    http_global_init();
    char port_file[] = "/tmp/osprey-http-port-XXXXXX";
    int fd = mkstemp(port_file);
    if (fd < 0)
        return -1;
    close(fd);
    unlink(port_file);
    server_pid = fork();
    if (server_pid == 0) {
        execl("/usr/bin/python3", "python3",
              OSPREY_SOURCE_DIR "/tests/tools/http_fixture_server.py", port_file, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(port_file, "r");
        if (f) {
            int ok = fscanf(f, "%d", &server_port);
            fclose(f);
            unlink(port_file);
            if (ok == 1) {
                snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", server_port);
                return 0;
            }
        }
        usleep(50 * 1000);
    }
    return -1;
}

static int stop_server(void **state)
{
    (void)state;
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    return 0;
}

static void on_done(const struct http_response *resp, void *data)
{
    struct result *r = data;
    r->done = true;
    r->status = resp->status;
    r->error = resp->error;
    r->body_len = resp->body_len < sizeof(r->body) - 1 ? resp->body_len : sizeof(r->body) - 1;
    memcpy(r->body, resp->body, r->body_len);
    r->body[r->body_len] = '\0';
    snprintf(r->content_type, sizeof(r->content_type), "%s", resp->content_type);
    snprintf(r->amzn, sizeof(r->amzn), "%s", resp->amzn_error_type);
}

static struct http_client *new_client(uv_loop_t *loop)
{
    struct http_client_options o;
    http_client_options_default(&o);
    struct http_client *c = NULL;
    assert_int_equal(uv_loop_init(loop), 0);
    assert_int_equal(http_client_create(loop, &o, &c), 0);
    return c;
}

static void run_until(uv_loop_t *loop, struct result *results, size_t n)
{
    uint64_t deadline = clock_monotonic_ns() + 20 * NS_PER_SEC;
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += results[i].done;
        if (done == n)
            return;
        assert_true(clock_monotonic_ns() < deadline);
        uv_run(loop, UV_RUN_ONCE);
    }
}

static bool closed;

static void on_closed(void *data)
{
    (void)data;
    closed = true;
}

static void close_client(uv_loop_t *loop, struct http_client *c)
{
    closed = false;
    http_client_close(c, on_closed, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_true(closed);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void get(struct http_client *c, uv_loop_t *loop, const char *path, uint64_t timeout_ms,
                size_t max_response, struct result *r)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", base_url, path);
    struct http_request req = {
        .method = "GET", .url = url, .timeout_ms = timeout_ms, .max_response_bytes = max_response};
    memset(r, 0, sizeof(*r));
    assert_int_equal(http_submit(c, &req, on_done, r), 0);
    run_until(loop, r, 1);
}

static void test_post_echo(void **state)
{
    (void)state;
    uv_loop_t loop;
    struct http_client *c = new_client(&loop);
    char url[256];
    snprintf(url, sizeof(url), "%s/echo", base_url);
    const char body[] = "Action=PutMetricData&Version=2010-08-01";
    struct http_request req = {
        .method = "POST", .url = url, .body = (const uint8_t *)body, .body_len = sizeof(body) - 1};
    assert_int_equal(http_request_add_header(&req, "X-Amz-Date", "20261122T000000Z"), 0);
    assert_int_equal(
        http_request_add_header(&req, "Content-Type", "application/x-www-form-urlencoded"), 0);
    struct result r = {0};
    assert_int_equal(http_submit(c, &req, on_done, &r), 0);
    assert_int_equal(http_client_in_flight(c), 1);
    run_until(&loop, &r, 1);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, body);
    assert_string_equal(r.content_type, "application/octet-stream");
    assert_int_equal(http_client_in_flight(c), 0);

    /* PUT with an empty body (the IMDSv2 token request's shape). */
    req.method = "PUT";
    req.body = NULL;
    req.body_len = 0;
    memset(&r, 0, sizeof(r));
    assert_int_equal(http_submit(c, &req, on_done, &r), 0);
    run_until(&loop, &r, 1);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    close_client(&loop, c);
}

static void test_status_and_error_type(void **state)
{
    (void)state;
    uv_loop_t loop;
    struct http_client *c = new_client(&loop);
    struct result r;
    get(c, &loop, "/status/503", 0, 0, &r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.amzn, "TestError:http://internal");
    assert_string_equal(r.content_type, "application/json");
    get(c, &loop, "/status/204", 0, 0, &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(r.amzn, "");
    close_client(&loop, c);
}

static void test_keep_alive_and_concurrency(void **state)
{
    (void)state;
    uv_loop_t loop;
    struct http_client *c = new_client(&loop);
    struct result r;
    get(c, &loop, "/conn", 0, 0, &r);
    long before = strtol(r.body, NULL, 10);
    for (int i = 0; i < 10; i++) {
        get(c, &loop, "/status/200", 0, 0, &r);
        assert_int_equal(r.status, 200);
    }
    get(c, &loop, "/conn", 0, 0, &r);
    /* Sequential requests reuse the one connection. */
    assert_int_equal(strtol(r.body, NULL, 10), before);

    enum { N = 24 };
    static struct result many[N];
    memset(many, 0, sizeof(many));
    char url[256];
    snprintf(url, sizeof(url), "%s/slow/50", base_url);
    for (int i = 0; i < N; i++) {
        struct http_request req = {.method = "GET", .url = url};
        assert_int_equal(http_submit(c, &req, on_done, &many[i]), 0);
    }
    run_until(&loop, many, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(many[i].error, 0);
        assert_string_equal(many[i].body, "slow");
    }
    close_client(&loop, c);
}

static void test_transport_errors(void **state)
{
    (void)state;
    uv_loop_t loop;
    struct http_client *c = new_client(&loop);
    struct result r;

    get(c, &loop, "/slow/3000", 200, 0, &r);
    assert_int_equal(r.error, -ETIMEDOUT);
    assert_int_equal(r.status, 0);

    get(c, &loop, "/reset", 0, 0, &r);
    assert_int_equal(r.error, -ECONNRESET);

    get(c, &loop, "/truncated", 0, 0, &r);
    assert_int_equal(r.error, -EPIPE);

    get(c, &loop, "/big/100000", 0, 1000, &r);
    assert_int_equal(r.error, -EMSGSIZE);
    get(c, &loop, "/big/1000", 0, 1000, &r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.body_len, 1000);

    /* A port nobody listens on: bind one, learn it, close it. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
    close(s);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(a.sin_port));
    struct http_request req = {.method = "GET", .url = url};
    memset(&r, 0, sizeof(r));
    assert_int_equal(http_submit(c, &req, on_done, &r), 0);
    run_until(&loop, &r, 1);
    assert_int_equal(r.error, -ECONNREFUSED);

    struct http_request bad = {.method = "GET", .url = NULL};
    assert_int_equal(http_submit(c, &bad, on_done, &r), -EINVAL);
    close_client(&loop, c);
}

static void test_close_cancels_in_flight(void **state)
{
    (void)state;
    uv_loop_t loop;
    struct http_client *c = new_client(&loop);
    char url[256];
    snprintf(url, sizeof(url), "%s/slow/2000", base_url);
    struct result r[3] = {0};
    for (int i = 0; i < 3; i++) {
        struct http_request req = {.method = "GET", .url = url};
        assert_int_equal(http_submit(c, &req, on_done, &r[i]), 0);
    }
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    closed = false;
    http_client_close(c, on_closed, NULL);
    for (int i = 0; i < 3; i++) {
        assert_true(r[i].done);
        assert_int_equal(r[i].error, -ECANCELED);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(closed);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_proxy_option(void **state)
{
    (void)state;
    uv_loop_t loop;
    struct http_client_options o;
    http_client_options_default(&o);
    o.proxy = base_url; /* the fixture answers absolute-URL requests as a proxy */
    struct http_client *c = NULL;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(http_client_create(&loop, &o, &c), 0);
    struct http_request req = {.method = "GET", .url = "http://logs.example.invalid/x"};
    struct result r = {0};
    assert_int_equal(http_submit(c, &req, on_done, &r), 0);
    run_until(&loop, &r, 1);
    assert_int_equal(r.error, 0);
    assert_string_equal(r.body, "proxied http://logs.example.invalid/x");
    close_client(&loop, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_echo),
        cmocka_unit_test(test_status_and_error_type),
        cmocka_unit_test(test_keep_alive_and_concurrency),
        cmocka_unit_test(test_transport_errors),
        cmocka_unit_test(test_close_cancels_in_flight),
        cmocka_unit_test(test_proxy_option),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
