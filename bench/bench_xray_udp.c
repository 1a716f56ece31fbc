/*
 * bench_xray_udp: UDP ingest of 1 KiB X-Ray segment datagrams, Osprey against a bare
 * recvmmsg loop measured in the same run.
 *
 *   bench_xray_udp [OSPREY_BIN [seconds_per_step]]   (default: ../osprey next to this binary)
 *
 * - baseline: one thread in a blocking recvmmsg loop (32 x 64 KiB slots) that only
 *   counts datagrams; its CPU is that thread's CLOCK_THREAD_CPUTIME_ID.
 * - osprey: the real binary with traces.traces_collected.xray and the stdout sink into
 *   /dev/null (so the documents cross the ring and are formatted and written); its CPU is utime +
 * stime of the process from /proc, its memory VmHWM (peak RSS). Received = the collector's count in
 * the final summary line (after SIGTERM); the kernel's drops show as received < sent, Osprey's own
 * (ring full) in "dropped". Osprey runs twice per step: validating documents (the default) and with
 * validate_segments false (the daemon's framing-only rule).
 * For each rate in a doubling ladder the sender (sendmmsg, paced every 1 ms) sends
 * rate x seconds datagrams; the highest rate with no loss is reported for each, and the
 * CPU per 1,000 segments/s (percent of one core) at the highest step all three pass, as
 * ratios to the bare loop. Then Osprey alone at 1,000 and 10,000 segments/s: CPU and
 * peak RSS.
 * Nothing here is asserted; it prints a table.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DGRAM_BYTES 1024
#define SLOTS       32
#define SLOT_BYTES  65536

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int free_udp_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* A valid 1 KiB datagram whose id carries n. */
static size_t make_datagram(char *out, uint64_t n)
{
    int len =
        snprintf(out, DGRAM_BYTES + 1,
                 "{\"format\":\"json\",\"version\":1}\n{\"name\":\"bench\",\"id\":\"%016" PRIx64
                 "\",\"trace_id\":\"1-58406520-a006649127e371903a2de979\","
                 "\"start_time\":1700000000.1,\"end_time\":1700000000.2,"
                 "\"metadata\":{\"default\":{\"pad\":\"",
                 (uint64_t)(n | 0x1000000000000000ull));
    while (len < DGRAM_BYTES - 4)
        out[len++] = 'x';
    memcpy(out + len, "\"}}}", 4);
    return DGRAM_BYTES;
}

/* Send rate/s for `seconds` to port; returns datagrams sent. */
static uint64_t send_at(int port, uint64_t rate, double seconds)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("connect");
        exit(1);
    }
    static char bufs[64][DGRAM_BYTES + 1];
    struct mmsghdr msgs[64];
    struct iovec iov[64];
    uint64_t total = (uint64_t)((double)rate * seconds), sent = 0;
    uint64_t start = now_ns();
    while (sent < total) {
        /* Due by now, in 1 ms steps. */
        uint64_t elapsed = now_ns() - start;
        uint64_t due = (uint64_t)((double)rate * (double)elapsed / 1e9) + 1;
        if (due > total)
            due = total;
        while (sent < due) {
            unsigned n = (unsigned)(due - sent < 64 ? due - sent : 64);
            for (unsigned i = 0; i < n; i++) {
                iov[i].iov_base = bufs[i];
                iov[i].iov_len = make_datagram(bufs[i], sent + i);
                memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            int r = sendmmsg(fd, msgs, n, 0);
            if (r < 0) {
                if (errno == ENOBUFS || errno == EAGAIN)
                    continue;
                perror("sendmmsg");
                exit(1);
            }
            sent += (unsigned)r;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    close(fd);
    return sent;
}

/* ---- baseline ----------------------------------------------------------------------- */

struct baseline {
    int fd;
    atomic_uint_least64_t received;
    atomic_bool stop;
    double cpu_s;
};

static void *baseline_thread(void *arg)
{
    struct baseline *b = arg;
    char *slab = malloc((size_t)SLOTS * SLOT_BYTES);
    struct mmsghdr msgs[SLOTS];
    struct iovec iov[SLOTS];
    for (int i = 0; i < SLOTS; i++) {
        iov[i].iov_base = slab + (size_t)i * SLOT_BYTES;
        iov[i].iov_len = SLOT_BYTES;
        memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    struct timeval tv = {0, 100000};
    setsockopt(b->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (!atomic_load(&b->stop)) {
        int r = recvmmsg(b->fd, msgs, SLOTS, MSG_WAITFORONE, NULL);
        if (r > 0)
            atomic_fetch_add(&b->received, (uint64_t)r);
    }
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    b->cpu_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    free(slab);
    return NULL;
}

struct result {
    uint64_t sent, received, dropped;
    double cpu_s, seconds;
    long rss_kb;
};

static struct result run_baseline(uint64_t rate, double seconds)
{
    struct baseline b = {.fd = socket(AF_INET, SOCK_DGRAM, 0)};
    int port = free_udp_port();
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(b.fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("bind");
        exit(1);
    }
    pthread_t t;
    pthread_create(&t, NULL, baseline_thread, &b);
    struct result r = {0};
    r.seconds = seconds;
    r.sent = send_at(port, rate, seconds);
    usleep(300 * 1000);
    atomic_store(&b.stop, true);
    pthread_join(t, NULL);
    close(b.fd);
    r.received = atomic_load(&b.received);
    r.cpu_s = b.cpu_s;
    return r;
}

/* ---- osprey ------------------------------------------------------------------------- */

static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long utime = 0, stime = 0;
    /* Fields after the command: state(3) ... utime(14) stime(15). */
    if (p &&
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) == 2)
        return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
    return 0;
}

static long proc_hwm_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static bool wait_for(const char *path, const char *needle, double seconds)
{
    uint64_t deadline = now_ns() + (uint64_t)(seconds * 1e9);
    static char buf[1 << 20];
    while (now_ns() < deadline) {
        FILE *f = fopen(path, "r");
        if (f) {
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);
            fclose(f);
            buf[n] = '\0';
            if (strstr(buf, needle))
                return true;
        }
        usleep(20 * 1000);
    }
    return false;
}

static struct result run_osprey(const char *bin, uint64_t rate, double seconds, bool validate)
{
    char dir[] = "/tmp/osprey-bench-xray-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    int port = free_udp_port();
    char cfg_path[256], log_path[256];
    snprintf(cfg_path, sizeof(cfg_path), "%s/osprey.json", dir);
    snprintf(log_path, sizeof(log_path), "%s/osprey.log", dir);
    FILE *f = fopen(cfg_path, "w");
    fprintf(f,
            "{\"traces\": {\"traces_collected\": {\"xray\": {\"bind_address\": \"127.0.0.1:%d\",\n"
            "  \"validate_segments\": %s}}},\n"
            " \"osprey\": {\"summary_interval\": 0, \"state_dir\": \"%s\",\n"
            "            \"sinks\": {\"stdout\": {}}}}\n",
            port, validate ? "true" : "false", dir);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int null_fd = open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        dup2(null_fd, 1); /* the stdout sink: documents are formatted and written out */
        execl(bin, bin, "--config", cfg_path, (char *)NULL);
        _exit(127);
    }
    struct result r = {0};
    r.seconds = seconds;
    if (!wait_for(log_path, "listening for X-Ray segments", 10)) {
        fprintf(stderr, "osprey did not start (see %s)\n", log_path);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return r;
    }
    double cpu0 = proc_cpu_s(pid);
    r.sent = send_at(port, rate, seconds);
    usleep(300 * 1000);
    r.cpu_s = proc_cpu_s(pid) - cpu0;
    r.rss_kb = proc_hwm_kb(pid);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    /* "final collected: xray=N(dropped D)..." */
    static char buf[1 << 20];
    f = fopen(log_path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    const char *line = strstr(buf, "final collected:");
    const char *x = line ? strstr(line, " xray=") : NULL;
    if (x) {
        unsigned long long out = 0, dropped = 0;
        sscanf(x, " xray=%llu(dropped %llu)", &out, &dropped);
        r.received = out + dropped;
        r.dropped = dropped;
    }
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return r;
}

/* Percent of one core per 1,000 segments/s. */
static double cpu_per_k(const struct result *r)
{
    double rate = (double)r->sent / r->seconds;
    return rate > 0 ? 100.0 * (r->cpu_s / r->seconds) / (rate / 1000.0) : 0;
}

int main(int argc, char **argv)
{
    static char bin_buf[4096];
    const char *bin = argc > 1 ? argv[1] : NULL;
    if (!bin) {
        ssize_t n = readlink("/proc/self/exe", bin_buf, sizeof(bin_buf) - 32);
        char *slash = n > 0 ? memrchr(bin_buf, '/', (size_t)n) : NULL;
        if (!slash) {
            fprintf(stderr, "usage: %s [OSPREY_BIN [seconds_per_step]]\n", argv[0]);
            return 2;
        }
        memcpy(slash, "/../osprey", sizeof("/../osprey"));
        bin = bin_buf;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    static const uint64_t ladder[] = {5000, 10000, 20000, 40000, 80000, 160000, 320000, 640000};
    /* 0: bare recvmmsg, 1: osprey validating documents (default), 2: framing only. */
    static const char *const names[] = {"bare recvmmsg", "osprey (validate_segments)",
                                        "osprey (framing only)"};
    uint64_t best[3] = {0};
    struct result at[3] = {{0}};
    printf("%8s | %-32s | %-32s | %-32s\n", "rate/s", "bare: recv/sent cpu%/1k",
           "validating: recv/sent cpu%/1k", "framing only: recv/sent cpu%/1k");
    for (size_t i = 0; i < sizeof(ladder) / sizeof(ladder[0]); i++) {
        struct result r[3] = {run_baseline(ladder[i], seconds),
                              run_osprey(bin, ladder[i], seconds, true),
                              run_osprey(bin, ladder[i], seconds, false)};
        bool ok[3], all_ok = true, any_ok = false;
        printf("%8" PRIu64, ladder[i]);
        for (int k = 0; k < 3; k++) {
            ok[k] = r[k].sent && r[k].received == r[k].sent && r[k].dropped == 0;
            printf(" | %8" PRIu64 "/%-8" PRIu64 " %s %6.3f%%", r[k].received, r[k].sent,
                   ok[k] ? "ok  " : "LOSS", cpu_per_k(&r[k]));
            if (ok[k])
                best[k] = ladder[i];
            all_ok = all_ok && ok[k];
            any_ok = any_ok || ok[k];
        }
        printf("\n");
        fflush(stdout);
        if (all_ok)
            memcpy(at, r, sizeof(at));
        if (!any_ok)
            break;
    }
    for (int k = 0; k < 3; k++)
        printf("highest zero-loss rate, %-27s %7" PRIu64 "/s (%.2f x bare)\n", names[k], best[k],
               best[0] ? (double)best[k] / (double)best[0] : 0);
    if (at[0].sent)
        for (int k = 0; k < 3; k++)
            printf("CPU per 1,000 segments/s at %.0f/s, %-27s %.3f%% of a core (%.1f x bare)\n",
                   (double)at[0].sent / at[0].seconds, names[k], cpu_per_k(&at[k]),
                   cpu_per_k(&at[0]) > 0 ? cpu_per_k(&at[k]) / cpu_per_k(&at[0]) : 0);
    static const uint64_t steady[] = {1000, 10000};
    for (size_t i = 0; i < 2; i++) {
        for (int v = 1; v >= 0; v--) {
            struct result o = run_osprey(bin, steady[i], seconds * 2.5, v);
            printf("osprey %-14s at %5" PRIu64 "/s: %5.1f%% of a core, peak RSS %.1f MiB, "
                   "received %" PRIu64 "/%" PRIu64 " (ring drops %" PRIu64 ")\n",
                   v ? "(validating)" : "(framing only)", steady[i], 100.0 * o.cpu_s / o.seconds,
                   (double)o.rss_kb / 1024.0, o.received, o.sent, o.dropped);
        }
    }
    return 0;
}
