/*
 * main: argv in, exit code out. Everything else is agent_run()'s job.
 *
 * Exit codes: 0 ok / valid, 1 invalid configuration or runtime failure, 2 usage error.
 */
#include "agent/agent.h"
#include "agent/alarm_cli.h"
#include "agent/config_doc.h"
#include "agent/dry_run.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: osprey --config FILE          run the agent in the foreground\n"
            "       osprey --check-config FILE    validate FILE and exit (0 valid, 1 invalid)\n"
            "       osprey --dry-run --config FILE\n"
            "                                     print sinks, endpoints, credential source,\n"
            "                                     listeners and metric series; send nothing\n"
            "       osprey config-reference       print the configuration reference (Markdown)\n"
            "       osprey xray-daemon [FLAGS]     run as a drop-in AWS X-Ray daemon (-h: flags)\n"
            "       osprey --version\n"
            "       osprey --help\n"
            "\n"
            "FILE is a CloudWatch agent JSON configuration with an optional \"osprey\"\n"
            "section (local sinks, ring size, deadlines). SIGINT/SIGTERM stop the agent\n"
            "after delivering what it holds (osprey.shutdown_deadline, default 5 s).\n");
}

/* ---- osprey xray-daemon: the AWS X-Ray daemon's command line (docs/xray-daemon.md) ---- */

static void xray_usage(FILE *out)
{
    fprintf(
        out,
        "usage: osprey xray-daemon [flags]   (also: a link to osprey named 'xray')\n"
        "Receives X-Ray segments on UDP and proxies sampling requests on TCP, as the AWS\n"
        "X-Ray daemon does, and sends them to X-Ray.\n"
        "  -b, --bind ADDR           UDP address to listen on (default 127.0.0.1:2000)\n"
        "  -t, --bind-tcp ADDR       TCP address of the sampling proxy (default 127.0.0.1:2000)\n"
        "  -n, --region REGION       X-Ray region (default AWS_REGION, AWS_DEFAULT_REGION)\n"
        "  -o, --local-mode          do not look up EC2/ECS metadata (Osprey never does)\n"
        "  -r, --role-arn ARN        assume this role to send (session name xray-daemon)\n"
        "  -a, --resource-arn ARN    accepted; only labels telemetry, which is not sent\n"
        "  -m, --buffer-memory MB    memory for waiting segments, at least 3\n"
        "  -c, --config FILE         the daemon's YAML: not supported (see the docs)\n"
        "  -l, --log-level LEVEL     dev, debug, info, prod, warn or error (default prod)\n"
        "  -f, --log-file FILE       append the log to FILE (default: stderr)\n"
        "  -p, --proxy-address URL   HTTP(S) proxy for requests to X-Ray\n"
        "  -v, --version             print the version\n"
        "  -h, --help                this text\n"
        "The endpoint is X-Ray's regional one unless AWS_ENDPOINT_URL_XRAY or\n"
        "AWS_ENDPOINT_URL names another.\n");
}

static int set_str(json_t *obj, const char *key, const char *value)
{
    return json_object_set_new(obj, key, json_string(value)) == 0 ? 0 : -ENOMEM;
}

/* Map the daemon's flags to a CloudWatch agent configuration with a traces section. */
static int xray_daemon_main(int argc, char **argv)
{
    static const struct option options[] = {
        {"bind", required_argument, NULL, 'b'},
        {"bind-tcp", required_argument, NULL, 't'},
        {"region", required_argument, NULL, 'n'},
        {"local-mode", no_argument, NULL, 'o'},
        {"role-arn", required_argument, NULL, 'r'},
        {"resource-arn", required_argument, NULL, 'a'},
        {"buffer-memory", required_argument, NULL, 'm'},
        {"config", required_argument, NULL, 'c'},
        {"log-level", required_argument, NULL, 'l'},
        {"log-file", required_argument, NULL, 'f'},
        {"proxy-address", required_argument, NULL, 'p'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const levels[][2] = {
        {"dev", "debug"}, {"debug", "debug"}, {"info", "info"},
        {"prod", "info"}, {"warn", "warn"},   {"error", "error"},
    };
    const char *bind = "127.0.0.1:2000", *bind_tcp = "127.0.0.1:2000", *region = NULL;
    const char *role = NULL, *log_file = NULL, *proxy = NULL, *level = "info";
    bool local_mode = false;
    long buffer_mb = 0;
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":b:t:n:or:a:m:c:l:f:p:vh", options, NULL)) != -1) {
        switch (opt) {
        case 'b':
            bind = optarg;
            break;
        case 't':
            bind_tcp = optarg;
            break;
        case 'n':
            region = optarg;
            break;
        case 'o':
            local_mode = true;
            break;
        case 'r':
            role = optarg;
            break;
        case 'a':
            fprintf(stderr, "osprey xray-daemon: -a/--resource-arn only labels the daemon's "
                            "telemetry records, which Osprey does not send; ignoring it\n");
            break;
        case 'm': {
            char *end = NULL;
            errno = 0;
            buffer_mb = strtol(optarg, &end, 10);
            if (errno || !*optarg || *end || buffer_mb < 3 || buffer_mb > (1 << 20)) {
                fprintf(stderr,
                        "osprey xray-daemon: -m/--buffer-memory must be a whole number "
                        "of MB, at least 3 (got '%s')\n",
                        optarg);
                return 2;
            }
            break;
        }
        case 'c':
            fprintf(stderr,
                    "osprey xray-daemon: -c/--config '%s': the X-Ray daemon's YAML configuration "
                    "is not supported; pass its settings as flags, or write an Osprey "
                    "configuration with a \"traces\" section and run 'osprey --config FILE' "
                    "(docs/xray-daemon.md maps every YAML key)\n",
                    optarg);
            return 2;
        case 'l': {
            size_t i = 0, n = sizeof(levels) / sizeof(levels[0]);
            while (i < n && strcmp(levels[i][0], optarg) != 0)
                i++;
            if (i == n) {
                fprintf(stderr,
                        "osprey xray-daemon: unknown log level '%s' (dev, debug, info, "
                        "prod, warn, error)\n",
                        optarg);
                return 2;
            }
            level = levels[i][1];
            break;
        }
        case 'f':
            log_file = optarg;
            break;
        case 'p':
            proxy = optarg;
            break;
        case 'v':
            printf("osprey %s (AWS X-Ray daemon compatible)\n", OSPREY_VERSION);
            return 0;
        case 'h':
            xray_usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "osprey xray-daemon: option '%s' needs a value\n", argv[optind - 1]);
            xray_usage(stderr);
            return 2;
        default:
            fprintf(stderr, "osprey xray-daemon: unknown option '%s'\n", argv[optind - 1]);
            xray_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "osprey xray-daemon: unexpected argument '%s'\n", argv[optind]);
        xray_usage(stderr);
        return 2;
    }
    if (!region || !region[0])
        region = getenv("AWS_REGION");
    if (!region || !region[0])
        region = getenv("AWS_DEFAULT_REGION");
    if (!region || !region[0]) {
        fprintf(stderr, "osprey xray-daemon: cannot determine the region: pass -n/--region or "
                        "set AWS_REGION\n");
        return 1;
    }
    const char *endpoint = getenv("AWS_ENDPOINT_URL_XRAY");
    if (!endpoint || !endpoint[0])
        endpoint = getenv("AWS_ENDPOINT_URL");

    int ret = 1, fd = -1;
    json_t *root = json_object(), *agent = json_object(), *traces = json_object();
    json_t *collected = json_object(), *xray = json_object(), *tcp = json_object();
    json_t *osprey = json_object();
    if (!root || !agent || !traces || !collected || !xray || !tcp || !osprey)
        goto cleanup;
    int r = set_str(agent, "region", region) | set_str(xray, "bind_address", bind) |
            set_str(tcp, "bind_address", bind_tcp) | set_str(osprey, "log_level", level);
    /* The X-Ray daemon has no health endpoint: a drop-in opens no port it would not. */
    r |= json_object_set_new(osprey, "health", json_pack("{sb}", "enabled", 0));
    if (log_file)
        r |= set_str(agent, "logfile", log_file);
    if (endpoint && endpoint[0])
        r |= set_str(traces, "endpoint_override", endpoint);
    if (proxy)
        r |= set_str(traces, "proxy_override", proxy);
    if (local_mode)
        r |= json_object_set_new(traces, "local_mode", json_true());
    if (buffer_mb)
        r |= json_object_set_new(traces, "buffer_size_mb", json_integer(buffer_mb));
    if (role) {
        json_t *creds = json_object(), *ocreds = json_object();
        if (!creds || !ocreds) {
            json_decref(creds);
            json_decref(ocreds);
            goto cleanup;
        }
        r |= set_str(creds, "role_arn", role);
        r |= set_str(ocreds, "role_session_name", "xray-daemon");
        r |= json_object_set_new(agent, "credentials", creds);
        r |= json_object_set_new(osprey, "credentials", ocreds);
    }
    r |= json_object_set(xray, "tcp_proxy", tcp);
    r |= json_object_set(collected, "xray", xray);
    r |= json_object_set(traces, "traces_collected", collected);
    r |= json_object_set(root, "agent", agent);
    r |= json_object_set(root, "traces", traces);
    r |= json_object_set(root, "osprey", osprey);
    if (r != 0)
        goto cleanup;
    /* The agent reads its configuration from a path: hand it an anonymous file. */
    fd = memfd_create("osprey-xray-daemon.json", MFD_CLOEXEC);
    if (fd < 0 || json_dumpfd(root, fd, JSON_INDENT(2)) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
        fprintf(stderr, "osprey xray-daemon: cannot build the configuration: %s\n",
                strerror(errno));
        goto cleanup;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ret = agent_run(path);

cleanup:
    if (fd >= 0)
        close(fd);
    json_decref(root);
    json_decref(agent);
    json_decref(traces);
    json_decref(collected);
    json_decref(xray);
    json_decref(tcp);
    json_decref(osprey);
    return ret;
}

int main(int argc, char **argv)
{
    /* libuv's pool only runs file-system work; two threads match the target host. */
    setenv("UV_THREADPOOL_SIZE", "2", 0);

    const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    if (strcmp(prog, "xray") == 0)
        return xray_daemon_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "xray-daemon") == 0)
        return xray_daemon_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "alarms") == 0)
        return alarm_cli_main(argc - 1, argv + 1);
    if (argc == 2 && strcmp(argv[1], "config-reference") == 0)
        return config_doc_write(stdout) == 0 ? 0 : 1;

    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"check-config", required_argument, NULL, 'C'},
        {"dry-run", no_argument, NULL, 'D'},      {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    const char *check = NULL;
    bool dry_run = false;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:hV", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'C':
            check = optarg;
            break;
        case 'D':
            dry_run = true;
            break;
        case 'V':
            printf("osprey %s\n", OSPREY_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            if (optopt)
                fprintf(stderr, "osprey: option '-%c' is unknown or needs a value\n", optopt);
            else
                fprintf(stderr, "osprey: unknown option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "osprey: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (check && config) {
        fprintf(stderr, "osprey: --config and --check-config are exclusive\n");
        usage(stderr);
        return 2;
    }
    if (dry_run && !config) {
        fprintf(stderr, "osprey: --dry-run needs --config FILE\n");
        usage(stderr);
        return 2;
    }
    if (check)
        return agent_check_config(check, stdout, stderr);
    if (dry_run)
        return dry_run_main(config, stdout, stderr);
    if (config)
        return agent_run(config);
    usage(stderr);
    return 2;
}
