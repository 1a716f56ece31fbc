/*
 * bench_export: the CPU cost of turning log lines into signed PutLogEvents requests.
 *
 * Workload: ~200-byte log lines (a fixed pseudo-random mix of words and numbers), cut
 * into batches of 1 MiB as the service counts them (message bytes + 26 per event), as
 * the cloudwatch_logs exporter does: JSON-escape each event (jsonw), assemble the body,
 * gzip it once (level 6), sign it (SigV4).
 * Baseline, measured in the same run on the same bodies: zlib alone (gzip_compress of
 * the already-built bodies). The ratio encode+gzip+sign / zlib-alone throughput, in MB/s
 * of log payload, is the figure to report (goal >= 0.8).
 *
 *   bench_export [MiB of log payload, default 256]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/buf.h"
#include "agent/clock.h"
#include "agent/jsonw.h"
#include "exporters/gzip.h"
#include "exporters/sigv4.h"

#define BATCH_LIMIT 1048576u
#define OVERHEAD    26u

static const char *const words[] = {
    "GET", "POST",  "/api/v1/orders", "200", "404",      "user",       "latency", "ms", "request",
    "id",  "cache", "miss",           "hit", "upstream", "\"quoted\"", "tab\t",   "db", "query"};

static size_t make_line(char *out, size_t cap, uint64_t *seed)
{
    size_t n =
        (size_t)snprintf(out, cap, "2026-11-22T03:04:05.%03uZ INFO ", (unsigned)(*seed % 1000));
    while (n < 190) {
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        const char *w = words[(*seed >> 33) % (sizeof(words) / sizeof(words[0]))];
        n += (size_t)snprintf(out + n, cap - n, "%s %llu ", w,
                              (unsigned long long)((*seed >> 40) % 100000));
    }
    return n < cap ? n : cap - 1;
}

/* One PutLogEvents body of up to 1 MiB as the service counts it, as the exporter builds it
 * (JSON-escaped events in a logEvents array); returns the log payload bytes it holds. */
static uint64_t build_body(struct buf *body, char *line, size_t cap, uint64_t *seed,
                           uint64_t *ts_ms)
{
    uint64_t counted = 0, payload = 0;
    int first = 1;
    buf_reset(body);
    buf_append_str(body, "{\"logGroupName\":\"/bench/group\",\"logStreamName\":\"bench\","
                         "\"logEvents\":[");
    for (;;) {
        size_t len = make_line(line, cap, seed);
        if (counted + len + OVERHEAD > BATCH_LIMIT)
            break;
        if (!first)
            buf_append(body, ",", 1);
        first = 0;
        buf_printf(body, "{\"timestamp\":%llu,\"message\":", (unsigned long long)(*ts_ms)++);
        jsonw_string(body, (const uint8_t *)line, len, NULL);
        buf_append(body, "}", 1);
        counted += len + OVERHEAD;
        payload += len;
    }
    buf_append_str(body, "]}");
    return payload;
}

static double seconds(uint64_t ns)
{
    return (double)ns / 1e9;
}

int main(int argc, char **argv)
{
    size_t total_mib = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 256;
    uint64_t payload_target = (uint64_t)total_mib << 20;
    uint64_t seed = 12345;
    char line[512];

    /* Phase 1 (timed): encode + gzip + sign, batch by batch, like the exporter. */
    struct buf body, gz;
    buf_init(&body, 8u << 20);
    buf_init(&gz, 8u << 20);
    size_t n_batches = 0;
    uint64_t payload = 0, wire = 0;
    /* Keep the bodies for the baseline (re-generated identically below instead of
     * stored, to keep memory flat). */
    uint64_t t0 = clock_monotonic_ns();
    uint64_t ts_ms = 1795000000000ull;
    while (payload < payload_target) {
        payload += build_body(&body, line, sizeof(line), &seed, &ts_ms);
        buf_reset(&gz);
        if (gzip_compress(body.data, body.len, 6, &gz) != 0) {
            fprintf(stderr, "gzip failed\n");
            return 1;
        }
        struct sigv4_header headers[] = {
            {"Host", "logs.us-east-1.amazonaws.com"},
            {"Content-Type", "application/x-amz-json-1.1"},
            {"X-Amz-Target", "Logs_20140328.PutLogEvents"},
            {"Content-Encoding", "gzip"},
        };
        struct sigv4_request req = {"POST", "/", NULL, headers, 4, gz.data, gz.len, NULL, 0};
        struct sigv4_credentials creds = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                          NULL};
        struct sigv4_result sig;
        memset(&sig, 0, sizeof(sig));
        if (sigv4_sign(&req, &creds, "us-east-1", "logs", 1795000000, SIGV4_FLAGS_DEFAULT, &sig) !=
            0) {
            fprintf(stderr, "sign failed\n");
            return 1;
        }
        sigv4_result_release(&sig);
        wire += gz.len;
        n_batches++;
    }
    uint64_t t_full = clock_monotonic_ns() - t0;

    /* Phase 2 (baseline): the same bodies, rebuilt untimed, then zlib alone, timed. */
    seed = 12345;
    ts_ms = 1795000000000ull;
    uint64_t payload2 = 0, t_zlib = 0;
    while (payload2 < payload_target) {
        payload2 += build_body(&body, line, sizeof(line), &seed, &ts_ms);
        buf_reset(&gz);
        uint64_t z0 = clock_monotonic_ns();
        gzip_compress(body.data, body.len, 6, &gz);
        t_zlib += clock_monotonic_ns() - z0;
    }

    double mb = (double)payload / 1e6;
    double full_rate = mb / seconds(t_full);
    double zlib_rate = (double)payload2 / 1e6 / seconds(t_zlib);
    printf("log payload: %.1f MB in %zu batches (%.1f MB on the wire, ratio %.2f)\n", mb, n_batches,
           (double)wire / 1e6, (double)wire / (double)payload);
    printf("encode+gzip+sign: %8.1f MB/s of payload (%.3f s)\n", full_rate, seconds(t_full));
    printf("zlib alone:       %8.1f MB/s of payload (%.3f s)\n", zlib_rate, seconds(t_zlib));
    printf("ratio (encode+gzip+sign / zlib alone): %.2f\n", full_rate / zlib_rate);
    buf_release(&body);
    buf_release(&gz);
    return 0;
}
