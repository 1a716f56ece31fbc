/*
 * The credentials chain (exporters/creds) on a real libuv loop against the compatible
 * AWS endpoint (tests/endpoint, started with /usr/bin/python3 on 127.0.0.1), which
 * emulates IMDSv2, the ECS container endpoint and STS (AssumeRole is SigV4-verified,
 * AssumeRoleWithWebIdentity is unsigned) and takes faults through /_control.
 *
 * Covered: every source (environment, shared files with AWS_PROFILE, an explicit
 * profile, HOME defaults, role chains; web identity; container relative and full URI
 * with token and token file; IMDSv2 including a 401 on an expired token), the chain's
 * order and its fall-through rule (absent sources are skipped, a present one that fails
 * is the error), refresh ahead of expiry with the old keys served meanwhile (STS, IMDS,
 * and a failed refresh), AssumeRole on top of the chain, failure paths (unreachable
 * IMDS, timeouts, malformed answers, STS errors), close with a fetch in flight, and
 * finally that no secret ever reached the log (captured with log_set_fd).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/clock.h"
#include "agent/log.h"
#include "exporters/creds.h"
#include "exporters/http.h"

#define EXAMPLE_AKID   "AKIDEXAMPLE"
#define EXAMPLE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define ROLE_ARN       "arn:aws:iam::123456789012:role/osprey-test"
#define WI_TOKEN       "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2E6b3NwcmV5In0.c2lnbmF0dXJl"
#define ECS_TOKEN      "Bearer ecs-secret-authorization-4711"
#define ECS_PATH       "/v2/credentials/osprey-test"

static pid_t server_pid;
static char base_url[64];
static char dead_url[64];
static char tmpdir[64];
static char log_path[128];
static int log_fd = -1;
static uv_loop_t loop;

/* Every secret the tests saw; none may appear in the log. */
#define MAX_SECRETS 256
static char *secrets[MAX_SECRETS];
static size_t n_secrets;

static void remember_secret(const char *s)
{
    if (s && s[0] && n_secrets < MAX_SECRETS)
        secrets[n_secrets++] = strdup(s);
}

static void remember(const struct aws_credentials *c)
{
    if (!c)
        return;
    remember_secret(c->secret_access_key);
    remember_secret(c->session_token);
}

/* ---- injected environment ------------------------------------------------------------ */

struct kv {
    const char *name;
    const char *value;
};

static const struct kv *cur_env;

static const char *fake_getenv(const char *name)
{
    for (const struct kv *e = cur_env; e && e->name; e++)
        if (strcmp(e->name, name) == 0)
            return e->value;
    return NULL;
}

static struct creds_options base_opts(void)
{
    return (struct creds_options){
        .region = "us-east-1",
        .shared_credentials_file = "/nonexistent/osprey/credentials",
        .shared_config_file = "/nonexistent/osprey/config",
        .imds_endpoint = base_url,
        .ecs_endpoint = base_url,
        .sts_endpoint = base_url,
        .imds_timeout_ms = 1000,
        .getenv = fake_getenv,
    };
}

/* ---- files ----------------------------------------------------------------------------- */

static void write_file(const char *name, const char *content, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", tmpdir, name);
    char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        *slash = '\0';
        mkdir(path, 0700);
        *slash = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

/* ---- the endpoint ------------------------------------------------------------------------ */

struct ctl {
    bool done;
    long status;
    int error;
    char *body;
};

static void on_ctl(const struct http_response *r, void *data)
{
    struct ctl *c = data;
    c->done = true;
    c->status = r->status;
    c->error = r->error;
    c->body = strndup((const char *)r->body, r->body_len);
}

/* A control-API call; the answer as JSON (asserted 200). */
static json_t *control(const char *method, const char *path, const char *body)
{
    uv_loop_t l;
    assert_int_equal(uv_loop_init(&l), 0);
    struct http_client_options o;
    http_client_options_default(&o);
    o.proxy = "";
    struct http_client *c = NULL;
    assert_int_equal(http_client_create(&l, &o, &c), 0);
    char url[512];
    snprintf(url, sizeof(url), "%s%s", base_url, path);
    struct http_request req = {
        .method = method,
        .url = url,
        .body = (const uint8_t *)body,
        .body_len = body ? strlen(body) : 0,
        .timeout_ms = 10000,
        .max_response_bytes = 16u << 20,
    };
    http_request_add_header(&req, "Content-Type", "application/json");
    struct ctl r = {0};
    assert_int_equal(http_submit(c, &req, on_ctl, &r), 0);
    while (!r.done)
        uv_run(&l, UV_RUN_ONCE);
    http_client_close(c, NULL, NULL);
    uv_run(&l, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&l), 0);
    if (r.status != 200)
        fprintf(stderr, "control %s %s: %ld %s\n", method, path, r.status, r.body);
    assert_int_equal(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    free(r.body);
    assert_non_null(j);
    return j;
}

static void control_ok(const char *method, const char *path, const char *body)
{
    json_decref(control(method, path, body));
}

/* Requests the endpoint logged for `service` ("imds", "ecs", "sts"). */
static json_t *requests(const char *service)
{
    char path[128];
    snprintf(path, sizeof(path), "/_control/requests?service=%s", service);
    json_t *j = control("GET", path, NULL);
    json_t *list = json_incref(json_object_get(j, "requests"));
    json_decref(j);
    assert_true(json_is_array(list));
    return list;
}

static size_t count_requests(const char *service)
{
    json_t *l = requests(service);
    size_t n = json_array_size(l);
    json_decref(l);
    return n;
}

static json_t *sts_calls(void)
{
    json_t *j = control("GET", "/_control/sts", NULL);
    json_t *calls = json_incref(json_object_get(j, "calls"));
    json_decref(j);
    return calls;
}

static int start_server(void **state)
{
    (void)state;
    http_global_init();
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/osprey-creds-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(log_path, sizeof(log_path), "%s/log", tmpdir);
    log_fd = open(log_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log_fd < 0)
        return -1;
    log_set_fd(log_fd);
    log_set_level(LOG_LEVEL_DEBUG);

    char port_file[128];
    snprintf(port_file, sizeof(port_file), "%s/port", tmpdir);
    server_pid = fork();
    if (server_pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execl("/usr/bin/python3", "python3", OSPREY_SOURCE_DIR "/tests/endpoint", "--port", "0",
              "--port-file", port_file, "--ecs-path", ECS_PATH, (char *)NULL);
        _exit(127);
    }
    int port = 0;
    for (int i = 0; i < 400 && !port; i++) {
        FILE *f = fopen(port_file, "r");
        if (f) {
            if (fscanf(f, "%d", &port) != 1)
                port = 0;
            fclose(f);
        }
        if (!port)
            usleep(25 * 1000);
    }
    if (!port)
        return -1;
    snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", port);

    /* A port nobody listens on: bound, never listened, closed. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &alen) != 0)
        return -1;
    snprintf(dead_url, sizeof(dead_url), "http://127.0.0.1:%d", ntohs(a.sin_port));
    close(s);
    return 0;
}

static void remove_tree(const char *dir)
{
    static const char *const names[] = {
        "port",       "log",       "credentials",      "config",
        "wi-token",   "ecs-token", ".aws/credentials", ".aws/config",
        "empty-token"};
    char path[256];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/.aws", dir);
    rmdir(path);
    rmdir(dir);
}

static int stop_server(void **state)
{
    (void)state;
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    log_set_fd(2);
    if (log_fd >= 0) {
        if (getenv("OSPREY_TEST_VERBOSE")) { /* show what the provider logged */
            char chunk[4096];
            ssize_t n;
            off_t off = 0;
            while ((n = pread(log_fd, chunk, sizeof(chunk), off)) > 0) {
                fwrite(chunk, 1, (size_t)n, stderr);
                off += n;
            }
        }
        close(log_fd);
    }
    remove_tree(tmpdir);
    for (size_t i = 0; i < n_secrets; i++)
        free(secrets[i]);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    cur_env = NULL;
    control_ok("POST", "/_control/reset", "{\"config\": true}");
    control_ok("POST", "/_control/ecs", "{\"path\": \"" ECS_PATH "\"}");
    return uv_loop_init(&loop);
}

static int teardown(void **state)
{
    (void)state;
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

/* ---- driving the provider ---------------------------------------------------------------- */

static void run_until(const bool *flag, uint64_t max_ns)
{
    uint64_t deadline = clock_monotonic_ns() + max_ns;
    while (!*flag) {
        assert_true(clock_monotonic_ns() < deadline);
        uv_run(&loop, UV_RUN_ONCE);
    }
}

static struct creds_provider *create(const struct creds_options *o)
{
    struct creds_provider *p = NULL;
    assert_int_equal(creds_provider_create(&loop, o, &p), 0);
    assert_non_null(p);
    return p;
}

struct wait_result {
    bool done;
    int status;
    unsigned calls;
};

static void on_wait(void *data, int status)
{
    struct wait_result *w = data;
    w->done = true;
    w->status = status;
    w->calls++;
}

/* creds_wait and run the loop until it answers; the status. */
static int wait_creds(struct creds_provider *p, uint64_t *elapsed_ns)
{
    struct wait_result w = {0};
    uint64_t t0 = clock_monotonic_ns();
    assert_int_equal(creds_wait(p, on_wait, &w), 0);
    assert_false(w.done); /* never inside creds_wait */
    run_until(&w.done, 20 * NS_PER_SEC);
    assert_int_equal(w.calls, 1);
    if (elapsed_ns)
        *elapsed_ns = clock_monotonic_ns() - t0;
    if (w.status == 0)
        remember(creds_current(p));
    return w.status;
}

static void on_closed(void *data)
{
    *(bool *)data = true;
}

static void close_provider(struct creds_provider *p)
{
    bool closed = false;
    creds_provider_close(p, on_closed, &closed);
    run_until(&closed, 10 * NS_PER_SEC);
}

static const struct aws_credentials *expect_creds(struct creds_provider *p, const char *source)
{
    const struct aws_credentials *c = creds_current(p);
    assert_non_null(c);
    assert_string_equal(c->source, source);
    remember(c);
    return c;
}

/* ---- sources ----------------------------------------------------------------------------- */

static void test_environment(void **state)
{
    (void)state;
    const struct kv env[] = {{"AWS_ACCESS_KEY_ID", EXAMPLE_AKID},
                             {"AWS_SECRET_ACCESS_KEY", EXAMPLE_SECRET},
                             {"AWS_SESSION_TOKEN", "env-session-token-0123456789"},
                             /* later in the chain: never used */
                             {"AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token"},
                             {"AWS_ROLE_ARN", ROLE_ARN},
                             {NULL, NULL}};
    cur_env = env;
    remember_secret(EXAMPLE_SECRET);
    remember_secret("env-session-token-0123456789");
    struct creds_options o = base_opts();
    struct creds_provider *p = create(&o);
    cur_env = NULL; /* the environment was read at creation */

    /* Static keys are there as soon as create returns. */
    const struct aws_credentials *c = expect_creds(p, "environment");
    assert_string_equal(c->access_key_id, EXAMPLE_AKID);
    assert_string_equal(c->secret_access_key, EXAMPLE_SECRET);
    assert_string_equal(c->session_token, "env-session-token-0123456789");
    assert_int_equal(c->expiration_ns, 0);
    assert_int_equal(wait_creds(p, NULL), 0);

    /* Invalidated: nothing until the next fetch, which reads the same source. */
    creds_invalidate(p);
    assert_null(creds_current(p));
    assert_int_equal(wait_creds(p, NULL), 0);
    c = expect_creds(p, "environment");
    assert_string_equal(c->access_key_id, EXAMPLE_AKID);

    /* A waiter can be withdrawn before it is called. */
    struct wait_result w = {0};
    assert_int_equal(creds_wait(p, on_wait, &w), 0);
    assert_int_equal(creds_wait_cancel(p, on_wait, &w), 1);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_false(w.done);

    close_provider(p);
    assert_int_equal(count_requests("sts"), 0);
    assert_int_equal(count_requests("imds"), 0);
}

static void test_environment_partial_is_an_error(void **state)
{
    (void)state;
    /* Present but broken: no fall-through to IMDS, which would work. */
    const struct kv env[] = {{"AWS_ACCESS_KEY_ID", EXAMPLE_AKID}, {NULL, NULL}};
    cur_env = env;
    struct creds_options o = base_opts();
    struct creds_provider *p = create(&o);
    assert_null(creds_current(p));
    assert_int_equal(wait_creds(p, NULL), -EINVAL);
    close_provider(p);
    assert_int_equal(count_requests("imds"), 0);

    /* A lone secret is ignored (botocore): the chain goes on to IMDS. */
    const struct kv env2[] = {{"AWS_SECRET_ACCESS_KEY", "lonely-secret-value"}, {NULL, NULL}};
    cur_env = env2;
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), 0);
    expect_creds(p, "imds");
    close_provider(p);
}

static void test_shared_files(void **state)
{
    (void)state;
    char cred[256], conf[256];
    write_file("credentials",
               "[default]\n"
               "aws_access_key_id = AKIDDEFAULT\n"
               "aws_secret_access_key = default-file-secret-1\n"
               "[dev]\n"
               "aws_access_key_id = AKIDDEV\n"
               "aws_secret_access_key = dev-file-secret-2\n"
               "aws_session_token = dev-file-token-3\n",
               cred, sizeof(cred));
    write_file("config",
               "[profile cfgonly]\n"
               "aws_access_key_id = AKIDCFG\n"
               "aws_secret_access_key = cfg-file-secret-4\n"
               "[profile regiononly]\n"
               "region = eu-west-1\n"
               "[profile sso]\n"
               "sso_start_url = https://example.awsapps.com/start\n",
               conf, sizeof(conf));
    remember_secret("default-file-secret-1");
    remember_secret("dev-file-secret-2");
    remember_secret("dev-file-token-3");
    remember_secret("cfg-file-secret-4");
    struct creds_options o = base_opts();
    o.shared_credentials_file = cred;
    o.shared_config_file = conf;

    /* AWS_PROFILE picks the section; no env keys, so the file wins over IMDS. */
    const struct kv env[] = {{"AWS_PROFILE", "dev"}, {NULL, NULL}};
    cur_env = env;
    struct creds_provider *p = create(&o);
    const struct aws_credentials *c = expect_creds(p, "shared-file");
    assert_string_equal(c->access_key_id, "AKIDDEV");
    assert_string_equal(c->session_token, "dev-file-token-3");
    close_provider(p);

    /* No profile named: "default". */
    cur_env = NULL;
    p = create(&o);
    assert_string_equal(expect_creds(p, "shared-file")->access_key_id, "AKIDDEFAULT");
    close_provider(p);

    /* An explicit profile (option) removes env keys from the chain; config-file keys. */
    const struct kv env_keys[] = {{"AWS_ACCESS_KEY_ID", EXAMPLE_AKID},
                                  {"AWS_SECRET_ACCESS_KEY", EXAMPLE_SECRET},
                                  {NULL, NULL}};
    cur_env = env_keys;
    o.profile = "cfgonly";
    p = create(&o);
    assert_string_equal(expect_creds(p, "shared-file")->access_key_id, "AKIDCFG");
    close_provider(p);
    /* ...whereas AWS_PROFILE does not: env keys win. */
    const struct kv env_keys_profile[] = {{"AWS_ACCESS_KEY_ID", EXAMPLE_AKID},
                                          {"AWS_SECRET_ACCESS_KEY", EXAMPLE_SECRET},
                                          {"AWS_PROFILE", "cfgonly"},
                                          {NULL, NULL}};
    cur_env = env_keys_profile;
    o.profile = NULL;
    p = create(&o);
    assert_string_equal(expect_creds(p, "environment")->access_key_id, EXAMPLE_AKID);
    close_provider(p);

    /* A profile named explicitly that does not exist is an error, not IMDS. */
    const struct kv env_missing[] = {{"AWS_PROFILE", "nosuchprofile"}, {NULL, NULL}};
    cur_env = env_missing;
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -ENOENT);
    close_provider(p);
    /* Unsupported settings are said so. */
    o.profile = "sso";
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -ENOTSUP);
    close_provider(p);
    assert_int_equal(count_requests("imds"), 0);

    /* A profile with no credential settings is absent: on to IMDS. */
    o.profile = "regiononly";
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), 0);
    expect_creds(p, "imds");
    close_provider(p);
    o.profile = NULL;

    /* Default paths under HOME, through the environment. */
    char home_cred[256];
    write_file(".aws/credentials",
               "[default]\naws_access_key_id = AKIDHOME\n"
               "aws_secret_access_key = home-file-secret-5\n",
               home_cred, sizeof(home_cred));
    remember_secret("home-file-secret-5");
    const struct kv env_home[] = {{"HOME", tmpdir}, {NULL, NULL}};
    cur_env = env_home;
    o.shared_credentials_file = NULL;
    o.shared_config_file = NULL;
    p = create(&o);
    assert_string_equal(expect_creds(p, "shared-file")->access_key_id, "AKIDHOME");
    close_provider(p);
    const struct kv env_files[] = {{"AWS_SHARED_CREDENTIALS_FILE", cred},
                                   {"AWS_CONFIG_FILE", conf},
                                   {"AWS_PROFILE", "cfgonly"},
                                   {NULL, NULL}};
    cur_env = env_files;
    p = create(&o);
    assert_string_equal(expect_creds(p, "shared-file")->access_key_id, "AKIDCFG");
    close_provider(p);
}

static void test_profile_roles(void **state)
{
    (void)state;
    char cred[256], conf[256];
    write_file("credentials",
               "[base]\naws_access_key_id = " EXAMPLE_AKID
               "\naws_secret_access_key = " EXAMPLE_SECRET "\n",
               cred, sizeof(cred));
    write_file("config",
               "[profile chained]\n"
               "role_arn = arn:aws:iam::123456789012:role/chained\n"
               "source_profile = base\n"
               "role_session_name = chain-session\n"
               "[profile twice]\n"
               "role_arn = arn:aws:iam::123456789012:role/twice\n"
               "source_profile = chained\n"
               "[profile loop1]\n"
               "role_arn = arn:aws:iam::123456789012:role/l1\n"
               "source_profile = loop2\n"
               "[profile loop2]\n"
               "role_arn = arn:aws:iam::123456789012:role/l2\n"
               "source_profile = loop1\n"
               "[profile nosource]\n"
               "role_arn = arn:aws:iam::123456789012:role/x\n"
               "[profile fromenv]\n"
               "role_arn = arn:aws:iam::123456789012:role/fromenv\n"
               "credential_source = Environment\n",
               conf, sizeof(conf));
    struct creds_options o = base_opts();
    o.shared_credentials_file = cred;
    o.shared_config_file = conf;

    o.profile = "chained";
    struct creds_provider *p = create(&o);
    assert_int_equal(wait_creds(p, NULL), 0);
    const struct aws_credentials *c = expect_creds(p, "assume-role");
    assert_memory_equal(c->access_key_id, "ASIA", 4);
    assert_non_null(c->session_token);
    assert_true(c->expiration_ns > clock_realtime_ns());
    close_provider(p);
    json_t *calls = sts_calls();
    assert_int_equal(json_array_size(calls), 1);
    json_t *call = json_array_get(calls, 0);
    assert_string_equal(json_string_value(json_object_get(call, "operation")), "AssumeRole");
    assert_string_equal(json_string_value(json_object_get(call, "caller")), EXAMPLE_AKID);
    assert_string_equal(json_string_value(json_object_get(call, "session_name")), "chain-session");
    json_decref(calls);

    /* Two hops, then creds_options.role_arn on top: three AssumeRole calls, each
     * signed (with a session token from the second on) and verified by the endpoint. */
    control_ok("POST", "/_control/reset", "{}");
    o.profile = "twice";
    o.role_arn = ROLE_ARN;
    o.role_session_name = "osprey-top";
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), 0);
    expect_creds(p, "assume-role");
    close_provider(p);
    calls = sts_calls();
    assert_int_equal(json_array_size(calls), 3);
    const char *arns[] = {"arn:aws:iam::123456789012:role/chained",
                          "arn:aws:iam::123456789012:role/twice", ROLE_ARN};
    for (size_t i = 0; i < 3; i++) {
        call = json_array_get(calls, i);
        assert_string_equal(json_string_value(json_object_get(call, "role_arn")), arns[i]);
        if (i > 0) /* signed with what the previous hop issued */
            assert_string_equal(json_string_value(json_object_get(call, "caller")),
                                json_string_value(json_object_get(json_array_get(calls, i - 1),
                                                                  "issued_access_key")));
    }
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(calls, 2), "session_name")), "osprey-top");
    json_decref(calls);
    o.role_arn = NULL;
    o.role_session_name = NULL;

    o.profile = "loop1";
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -ELOOP);
    close_provider(p);
    o.profile = "nosource";
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -EINVAL);
    close_provider(p);

    /* credential_source = Environment: env keys are the source even with an explicit
     * profile. */
    const struct kv env[] = {{"AWS_ACCESS_KEY_ID", EXAMPLE_AKID},
                             {"AWS_SECRET_ACCESS_KEY", EXAMPLE_SECRET},
                             {NULL, NULL}};
    cur_env = env;
    o.profile = "fromenv";
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), 0);
    expect_creds(p, "assume-role");
    close_provider(p);
    assert_int_equal(count_requests("imds"), 0);
}

static void test_web_identity(void **state)
{
    (void)state;
    char token_file[256], cred[256];
    write_file("wi-token", WI_TOKEN "\n", token_file, sizeof(token_file));
    remember_secret(WI_TOKEN);
    /* A shared file is there too: web identity comes first. */
    write_file("credentials",
               "[default]\naws_access_key_id = AKIDDEFAULT\n"
               "aws_secret_access_key = default-file-secret-1\n",
               cred, sizeof(cred));
    const struct kv env[] = {{"AWS_WEB_IDENTITY_TOKEN_FILE", token_file},
                             {"AWS_ROLE_ARN", ROLE_ARN},
                             {"AWS_ROLE_SESSION_NAME", "osprey-wi"},
                             {NULL, NULL}};
    cur_env = env;
    struct creds_options o = base_opts();
    o.shared_credentials_file = cred;
    struct creds_provider *p = create(&o);
    assert_int_equal(wait_creds(p, NULL), 0);
    const struct aws_credentials *c = expect_creds(p, "web-identity");
    assert_memory_equal(c->access_key_id, "ASIA", 4);
    assert_non_null(c->session_token);
    /* STS default lifetime is one hour; the expiry came from the XML. */
    uint64_t now = clock_realtime_ns();
    assert_true(c->expiration_ns > now + 3500 * NS_PER_SEC);
    assert_true(c->expiration_ns < now + 3700 * NS_PER_SEC);
    close_provider(p);

    json_t *calls = sts_calls();
    assert_int_equal(json_array_size(calls), 1);
    json_t *call = json_array_get(calls, 0);
    assert_string_equal(json_string_value(json_object_get(call, "operation")),
                        "AssumeRoleWithWebIdentity");
    assert_string_equal(json_string_value(json_object_get(call, "web_identity_token")), WI_TOKEN);
    assert_string_equal(json_string_value(json_object_get(call, "session_name")), "osprey-wi");
    assert_string_equal(json_string_value(json_object_get(call, "role_arn")), ROLE_ARN);
    json_decref(calls);
    /* Unsigned. */
    json_t *reqs = requests("sts");
    assert_int_equal(json_array_size(reqs), 1);
    assert_null(
        json_object_get(json_object_get(json_array_get(reqs, 0), "headers"), "authorization"));
    json_decref(reqs);

    /* The token is refused: InvalidIdentityToken, not the shared file. */
    control_ok("POST", "/_control/sts", "{\"web_identity_tokens\": [\"some-other-token\"]}");
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -EACCES);
    close_provider(p);

    /* An error message that quotes the token is not logged (the check is at the end). */
    control_ok("POST", "/_control/sts", "{\"web_identity_tokens\": null}");
    control_ok("POST", "/_control/faults",
               "{\"kind\": \"error\", \"status\": 400, \"code\": \"ValidationError\", "
               "\"message\": \"Value '" WI_TOKEN "' at 'webIdentityToken' failed\", "
               "\"service\": \"sts\"}");
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -EINVAL);
    close_provider(p);

    /* Misconfigured: no role, or an unreadable or empty token file. */
    const struct kv no_role[] = {{"AWS_WEB_IDENTITY_TOKEN_FILE", token_file}, {NULL, NULL}};
    cur_env = no_role;
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -EINVAL);
    close_provider(p);
    const struct kv no_file[] = {{"AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/osprey/token"},
                                 {"AWS_ROLE_ARN", ROLE_ARN},
                                 {NULL, NULL}};
    cur_env = no_file;
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -ENOENT);
    close_provider(p);
    char empty[256];
    write_file("empty-token", "\n", empty, sizeof(empty));
    const struct kv empty_file[] = {
        {"AWS_WEB_IDENTITY_TOKEN_FILE", empty}, {"AWS_ROLE_ARN", ROLE_ARN}, {NULL, NULL}};
    cur_env = empty_file;
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -EINVAL);
    close_provider(p);
}

static void test_container(void **state)
{
    (void)state;
    remember_secret(ECS_TOKEN);
    control_ok("POST", "/_control/ecs", "{\"authorization\": \"" ECS_TOKEN "\"}");
    struct creds_options o = base_opts();

    /* Relative URI on the ECS base, token from the environment. */
    const struct kv env[] = {{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", ECS_PATH},
                             {"AWS_CONTAINER_AUTHORIZATION_TOKEN", ECS_TOKEN},
                             {NULL, NULL}};
    cur_env = env;
    struct creds_provider *p = create(&o);
    assert_int_equal(wait_creds(p, NULL), 0);
    const struct aws_credentials *c = expect_creds(p, "container");
    assert_memory_equal(c->access_key_id, "ASIA", 4);
    assert_true(c->expiration_ns > clock_realtime_ns() + 3600 * NS_PER_SEC);
    close_provider(p);

    /* Full URI, token from a file (which wins over the variable). */
    char token_file[256], full[256];
    write_file("ecs-token", ECS_TOKEN "\n", token_file, sizeof(token_file));
    snprintf(full, sizeof(full), "%s%s", base_url, ECS_PATH);
    const struct kv env_full[] = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", full},
                                  {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file},
                                  {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer wrong"},
                                  {NULL, NULL}};
    cur_env = env_full;
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), 0);
    expect_creds(p, "container");
    close_provider(p);
    json_t *reqs = requests("ecs");
    assert_int_equal(json_array_size(reqs), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *h = json_object_get(json_array_get(reqs, i), "headers");
        assert_string_equal(json_string_value(json_object_get(h, "authorization")), ECS_TOKEN);
        assert_string_equal(json_string_value(json_object_get(h, "accept")), "application/json");
    }
    json_decref(reqs);

    /* Wrong token: 401, an error (IMDS is not tried). */
    const struct kv env_bad[] = {{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", ECS_PATH},
                                 {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer wrong"},
                                 {NULL, NULL}};
    cur_env = env_bad;
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -EACCES);
    close_provider(p);

    /* http:// full URIs only to loopback / ECS / EKS hosts; refused before any request. */
    const struct kv env_far[] = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.10/creds"},
                                 {NULL, NULL}};
    cur_env = env_far;
    uint64_t elapsed;
    p = create(&o);
    assert_int_equal(wait_creds(p, &elapsed), -EACCES);
    assert_true(elapsed < NS_PER_SEC);
    close_provider(p);
    assert_int_equal(count_requests("imds"), 0);

    /* Malformed answers. */
    cur_env = env;
    control_ok("POST", "/_control/faults",
               "{\"kind\": \"malformed\", \"mode\": \"bad_body\", \"service\": \"ecs\"}");
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -EBADMSG);
    close_provider(p);
    control_ok("POST", "/_control/faults",
               "{\"kind\": \"malformed\", \"mode\": \"content_type\", \"service\": \"ecs\"}");
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -EBADMSG);
    close_provider(p);
}

static void test_imds(void **state)
{
    (void)state;
    /* Nothing configured: IMDS. */
    struct creds_options o = base_opts();
    struct creds_provider *p = create(&o);
    assert_int_equal(wait_creds(p, NULL), 0);
    const struct aws_credentials *c = expect_creds(p, "imds");
    assert_memory_equal(c->access_key_id, "ASIA", 4);
    assert_non_null(c->session_token);
    assert_true(c->expiration_ns > clock_realtime_ns() + 5 * 3600 * NS_PER_SEC);
    char first[64];
    snprintf(first, sizeof(first), "%s", c->access_key_id);

    json_t *reqs = requests("imds");
    assert_int_equal(json_array_size(reqs), 3);
    json_t *put = json_array_get(reqs, 0);
    assert_string_equal(json_string_value(json_object_get(put, "method")), "PUT");
    assert_string_equal(json_string_value(json_object_get(put, "path")), "/latest/api/token");
    assert_string_equal(json_string_value(json_object_get(json_object_get(put, "headers"),
                                                          "x-aws-ec2-metadata-token-ttl-seconds")),
                        "21600");
    for (size_t i = 1; i < 3; i++) {
        json_t *r = json_array_get(reqs, i);
        assert_int_equal(json_integer_value(json_object_get(r, "status")), 200);
        assert_non_null(json_object_get(json_object_get(r, "headers"), "x-aws-ec2-metadata-token"));
    }
    assert_string_equal(json_string_value(json_object_get(json_array_get(reqs, 2), "path")),
                        "/latest/meta-data/iam/security-credentials/osprey-test-role");
    json_decref(reqs);

    /* The session token is reused by the next fetch. */
    creds_invalidate(p);
    assert_int_equal(wait_creds(p, NULL), 0);
    assert_int_equal(count_requests("imds"), 5);

    /* The endpoint forgets its tokens: 401, a new token, success. */
    control_ok("POST", "/_control/imds", "{\"expire_tokens\": true, \"rotate\": true}");
    creds_invalidate(p);
    assert_int_equal(wait_creds(p, NULL), 0);
    c = expect_creds(p, "imds");
    assert_string_not_equal(c->access_key_id, first);
    reqs = requests("imds");
    assert_int_equal(json_array_size(reqs), 9);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 5), "status")), 401);
    assert_string_equal(json_string_value(json_object_get(json_array_get(reqs, 6), "method")),
                        "PUT");
    json_decref(reqs);
    close_provider(p);

    /* One retry absorbs one 500. */
    control_ok("POST", "/_control/faults",
               "{\"kind\": \"error\", \"status\": 500, \"service\": \"imds\", \"operation\": "
               "\"ImdsGet\"}");
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), 0);
    close_provider(p);
    /* Two are an error. */
    control_ok("POST", "/_control/faults",
               "{\"kind\": \"error\", \"status\": 500, \"count\": 2, \"service\": \"imds\", "
               "\"operation\": \"ImdsGet\"}");
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -EAGAIN);
    close_provider(p);
    /* A malformed role name. */
    control_ok("POST", "/_control/faults",
               "{\"kind\": \"malformed\", \"mode\": \"bad_body\", \"service\": \"imds\", "
               "\"operation\": \"ImdsGet\"}");
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -EBADMSG);
    close_provider(p);
    /* No role attached. */
    control_ok("POST", "/_control/faults",
               "{\"kind\": \"error\", \"status\": 404, \"service\": \"imds\", \"operation\": "
               "\"ImdsGet\"}");
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -ENOKEY);
    close_provider(p);
}

static void test_imds_disabled_and_unreachable(void **state)
{
    (void)state;
    /* IMDS disabled and nothing else: no source at all. */
    const struct kv env[] = {{"AWS_EC2_METADATA_DISABLED", "TRUE"}, {NULL, NULL}};
    cur_env = env;
    struct creds_options o = base_opts();
    struct creds_provider *p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -ENOKEY);
    close_provider(p);
    assert_int_equal(count_requests("imds"), 0);
    cur_env = NULL;

    /* Nobody listening: refused at once (and retried once). */
    o.imds_endpoint = dead_url;
    uint64_t elapsed;
    p = create(&o);
    assert_int_equal(wait_creds(p, &elapsed), -ECONNREFUSED);
    assert_true(elapsed < NS_PER_SEC);
    close_provider(p);

    /* Endpoint from the environment, answering too slowly: two attempts of 300 ms. */
    const struct kv env_ep[] = {{"AWS_EC2_METADATA_SERVICE_ENDPOINT", base_url}, {NULL, NULL}};
    cur_env = env_ep;
    o.imds_endpoint = NULL;
    o.imds_timeout_ms = 300;
    control_ok("POST", "/_control/faults",
               "{\"kind\": \"delay\", \"delay\": 1.5, \"count\": 2, \"service\": \"imds\", "
               "\"operation\": \"ImdsToken\"}");
    p = create(&o);
    assert_int_equal(wait_creds(p, &elapsed), -ETIMEDOUT);
    assert_true(elapsed >= 500 * NS_PER_MS);
    assert_true(elapsed < 1500 * NS_PER_MS);
    close_provider(p);
}

/* ---- refresh ------------------------------------------------------------------------------- */

struct sampler {
    struct creds_provider *p;
    uv_timer_t timer;
    char first[130];
    uint64_t first_exp;
    unsigned n_first, n_null;
    char second[130];
    uint64_t second_at;
    bool done;
};

static void on_sample(uv_timer_t *t)
{
    struct sampler *s = t->data;
    const struct aws_credentials *c = creds_current(s->p);
    if (!c) {
        s->n_null++;
        return;
    }
    if (strcmp(c->access_key_id, s->first) == 0) {
        s->n_first++;
        return;
    }
    remember(c);
    snprintf(s->second, sizeof(s->second), "%s", c->access_key_id);
    s->second_at = clock_realtime_ns();
    s->done = true;
    uv_timer_stop(t);
}

static void on_sampler_closed(uv_handle_t *h)
{
    *(bool *)h->data = true;
}

/* Sample creds_current every 50 ms until the key changes; check the old key was served
 * until then and the new one came before the old one's expiry. */
static void expect_refresh(struct creds_provider *p, const char *source)
{
    struct sampler s = {.p = p};
    const struct aws_credentials *c = expect_creds(p, source);
    snprintf(s.first, sizeof(s.first), "%s", c->access_key_id);
    s.first_exp = c->expiration_ns;
    assert_true(s.first_exp > clock_realtime_ns());
    uv_timer_init(&loop, &s.timer);
    s.timer.data = &s;
    uv_timer_start(&s.timer, on_sample, 50, 50);
    run_until(&s.done, 10 * NS_PER_SEC);
    bool timer_closed = false;
    s.timer.data = &timer_closed;
    uv_close((uv_handle_t *)&s.timer, on_sampler_closed);
    run_until(&timer_closed, NS_PER_SEC);
    assert_int_equal(s.n_null, 0);
    assert_true(s.n_first >= 5); /* the old keys were served meanwhile */
    assert_true(s.second_at < s.first_exp);
    assert_string_equal(expect_creds(p, source)->access_key_id, s.second);
}

static void test_refresh_web_identity(void **state)
{
    (void)state;
    char token_file[256];
    write_file("wi-token", WI_TOKEN, token_file, sizeof(token_file));
    control_ok("POST", "/_control/sts", "{\"lifetime_seconds\": 3}");
    const struct kv env[] = {
        {"AWS_WEB_IDENTITY_TOKEN_FILE", token_file}, {"AWS_ROLE_ARN", ROLE_ARN}, {NULL, NULL}};
    cur_env = env;
    struct creds_options o = base_opts();
    o.refresh_margin_ns = 1500 * NS_PER_MS;
    struct creds_provider *p = create(&o);
    assert_int_equal(wait_creds(p, NULL), 0);
    expect_refresh(p, "web-identity");
    close_provider(p);
    json_t *calls = sts_calls();
    assert_true(json_array_size(calls) >= 2);
    json_decref(calls);
}

static void test_refresh_imds(void **state)
{
    (void)state;
    /* IMDS mints new keys when fewer than 2.5 s remain; they live 3 s. */
    control_ok("POST", "/_control/imds",
               "{\"lifetime_seconds\": 3, \"refresh_before_seconds\": 2.5, \"rotate\": true}");
    struct creds_options o = base_opts();
    o.refresh_margin_ns = 1200 * NS_PER_MS;
    struct creds_provider *p = create(&o);
    assert_int_equal(wait_creds(p, NULL), 0);
    expect_refresh(p, "imds");
    close_provider(p);
}

static void test_refresh_failure_keeps_serving(void **state)
{
    (void)state;
    /* AssumeRole on top of env keys, 4 s credentials, refresh 3 s ahead (grace 1.5 s). */
    control_ok("POST", "/_control/sts", "{\"lifetime_seconds\": 4}");
    const struct kv env[] = {{"AWS_ACCESS_KEY_ID", EXAMPLE_AKID},
                             {"AWS_SECRET_ACCESS_KEY", EXAMPLE_SECRET},
                             {NULL, NULL}};
    cur_env = env;
    struct creds_options o = base_opts();
    o.role_arn = ROLE_ARN;
    o.refresh_margin_ns = 3 * NS_PER_SEC;
    struct creds_provider *p = create(&o);
    assert_int_equal(wait_creds(p, NULL), 0);
    /* The first refresh (about 1 s from now) fails twice (its retry included). */
    control_ok("POST", "/_control/faults",
               "{\"kind\": \"error\", \"status\": 503, \"count\": 2, \"service\": \"sts\"}");
    expect_refresh(p, "assume-role");
    close_provider(p);
    json_t *f = control("GET", "/_control/faults", NULL);
    assert_int_equal(json_array_size(json_object_get(f, "fired")), 2);
    json_decref(f);
}

/* ---- STS failures -------------------------------------------------------------------------- */

static void test_assume_role_errors(void **state)
{
    (void)state;
    struct creds_options o = base_opts();
    o.role_arn = ROLE_ARN;

    /* Keys the endpoint does not know: InvalidClientTokenId. */
    const struct kv unknown[] = {{"AWS_ACCESS_KEY_ID", "AKIDUNKNOWN"},
                                 {"AWS_SECRET_ACCESS_KEY", "unknown-secret-value-6"},
                                 {NULL, NULL}};
    remember_secret("unknown-secret-value-6");
    cur_env = unknown;
    struct creds_provider *p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -EACCES);
    close_provider(p);
    /* A wrong secret: SignatureDoesNotMatch. */
    const struct kv wrong[] = {{"AWS_ACCESS_KEY_ID", EXAMPLE_AKID},
                               {"AWS_SECRET_ACCESS_KEY", "wrong-secret-value-7"},
                               {NULL, NULL}};
    remember_secret("wrong-secret-value-7");
    cur_env = wrong;
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -EACCES);
    close_provider(p);

    const struct kv good[] = {{"AWS_ACCESS_KEY_ID", EXAMPLE_AKID},
                              {"AWS_SECRET_ACCESS_KEY", EXAMPLE_SECRET},
                              {NULL, NULL}};
    cur_env = good;
    /* Throttled once: retried. Twice: -EAGAIN. */
    control_ok("POST", "/_control/faults", "{\"kind\": \"throttle\", \"service\": \"sts\"}");
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), 0);
    close_provider(p);
    control_ok("POST", "/_control/faults",
               "{\"kind\": \"error\", \"status\": 500, \"count\": 2, \"service\": \"sts\"}");
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -EAGAIN);
    close_provider(p);
    /* A validation error (bad role ARN). */
    o.role_arn = "not-an-arn-at-all-but-long-enough";
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -EINVAL);
    close_provider(p);
    o.role_arn = ROLE_ARN;
    /* A malformed answer. */
    control_ok("POST", "/_control/faults",
               "{\"kind\": \"malformed\", \"mode\": \"bad_body\", \"service\": \"sts\"}");
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -EBADMSG);
    close_provider(p);

    /* After a failure the next wait fetches again, and works. */
    control_ok("POST", "/_control/faults",
               "{\"kind\": \"error\", \"status\": 403, \"code\": \"AccessDenied\", \"service\": "
               "\"sts\"}");
    p = create(&o);
    assert_int_equal(wait_creds(p, NULL), -EACCES);
    assert_int_equal(wait_creds(p, NULL), 0);
    expect_creds(p, "assume-role");
    close_provider(p);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void test_close_cancels(void **state)
{
    (void)state;
    control_ok("POST", "/_control/faults",
               "{\"kind\": \"delay\", \"delay\": 1.0, \"service\": \"imds\", \"operation\": "
               "\"ImdsToken\"}");
    struct creds_options o = base_opts();
    struct creds_provider *p = create(&o);
    struct wait_result a = {0}, b = {0};
    assert_int_equal(creds_wait(p, on_wait, &a), 0);
    assert_int_equal(creds_wait(p, on_wait, &b), 0);
    /* Let the token request reach the endpoint. */
    uint64_t until = clock_monotonic_ns() + 100 * NS_PER_MS;
    while (clock_monotonic_ns() < until)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_false(a.done);
    bool closed = false;
    uint64_t t0 = clock_monotonic_ns();
    creds_provider_close(p, on_closed, &closed);
    assert_true(a.done && b.done);
    assert_int_equal(a.status, -ECANCELED);
    assert_int_equal(b.status, -ECANCELED);
    struct wait_result c = {0};
    assert_int_equal(creds_wait(p, on_wait, &c), -ESHUTDOWN);
    assert_null(creds_current(p));
    run_until(&closed, 5 * NS_PER_SEC);
    assert_true(clock_monotonic_ns() - t0 < 500 * NS_PER_MS);
    assert_int_equal(a.calls, 1);
    assert_false(c.done);
}

static void test_parse_time(void **state)
{
    (void)state;
    uint64_t ns;
    assert_int_equal(creds_parse_time("1970-01-01T00:00:00Z", 20, &ns), 0);
    assert_int_equal(ns, 0);
    assert_int_equal(creds_parse_time("2024-02-29T12:34:56Z", 20, &ns), 0);
    assert_int_equal(ns, 1709210096ull * NS_PER_SEC);
    const char *ms = "2024-02-29T12:34:56.789Z";
    assert_int_equal(creds_parse_time(ms, strlen(ms), &ns), 0);
    assert_int_equal(ns, 1709210096ull * NS_PER_SEC + 789 * NS_PER_MS);
    const char *off = "2024-02-29T14:34:56+02:00";
    assert_int_equal(creds_parse_time(off, strlen(off), &ns), 0);
    assert_int_equal(ns, 1709210096ull * NS_PER_SEC);
    const char *noz = "2024-02-29T12:34:56";
    assert_int_equal(creds_parse_time(noz, strlen(noz), &ns), 0);
    assert_int_equal(ns, 1709210096ull * NS_PER_SEC);
    const char *bad[] = {"",
                         "2023-02-29T00:00:00Z",
                         "2024-13-01T00:00:00Z",
                         "2024-01-01T24:00:00Z",
                         "2024-01-01T00:00:00Zjunk",
                         "2024-01-01T00:00:00.Z",
                         "1969-12-31T23:59:59Z",
                         "2024-01-01 00:00",
                         "2024-01-01T00:00:00+2:00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(creds_parse_time(bad[i], strlen(bad[i]), &ns), -EINVAL);
}

/* Runs last: nothing secret was ever written to the log, yet the log says something. */
static void test_log_has_no_secrets(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(fstat(log_fd, &st), 0);
    char *text = calloc(1, (size_t)st.st_size + 1);
    assert_non_null(text);
    assert_int_equal(pread(log_fd, text, (size_t)st.st_size, 0), st.st_size);
    assert_true(n_secrets > 20);
    for (size_t i = 0; i < n_secrets; i++) {
        if (strstr(text, secrets[i])) {
            fprintf(stderr, "secret #%zu found in the log (%s)\n", i, log_path);
            fail();
        }
    }
    assert_non_null(strstr(text, "access key " EXAMPLE_AKID));
    assert_non_null(strstr(text, "from imds"));
    assert_non_null(strstr(text, "still using access key"));
    assert_non_null(strstr(text, "InvalidIdentityToken"));
    assert_non_null(strstr(text, "ValidationError: (message withheld: it quotes a secret)"));
    free(text);
}

int main(void)
{
    /* A proxy of the machine's must not catch loopback test traffic. */
    const char *proxies[] = {"http_proxy", "https_proxy", "all_proxy",
                             "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
        unsetenv(proxies[i]);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),
        T(test_environment),
        T(test_environment_partial_is_an_error),
        T(test_shared_files),
        T(test_profile_roles),
        T(test_web_identity),
        T(test_container),
        T(test_imds),
        T(test_imds_disabled_and_unreachable),
        T(test_assume_role_errors),
        T(test_refresh_web_identity),
        T(test_refresh_imds),
        T(test_refresh_failure_keeps_serving),
        T(test_close_cancels),
        cmocka_unit_test(test_log_has_no_secrets),
    };
#undef T
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
