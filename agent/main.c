/*
 * main: argv in, exit code out. Everything else is agent_run()'s job.
 *
 * Exit codes: 0 ok / valid, 1 invalid configuration or runtime failure, 2 usage error.
 */
#include "agent/agent.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: osprey --config FILE          run the agent in the foreground\n"
            "       osprey --check-config FILE    validate FILE and exit (0 valid, 1 invalid)\n"
            "       osprey --version\n"
            "       osprey --help\n"
            "\n"
            "FILE is a CloudWatch agent JSON configuration with an optional \"osprey\"\n"
            "section (local sinks, ring size, deadlines). SIGINT/SIGTERM stop the agent\n"
            "after delivering what it holds (osprey.shutdown_deadline, default 5 s).\n");
}

int main(int argc, char **argv)
{
    /* libuv's pool only runs file-system work; two threads match the target host. */
    setenv("UV_THREADPOOL_SIZE", "2", 0);

    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 'C'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    const char *check = NULL;
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
    if (check)
        return agent_check_config(check, stdout, stderr);
    if (config)
        return agent_run(config);
    usage(stderr);
    return 2;
}
