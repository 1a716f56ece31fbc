/*
 * log_names: see log_names.h.
 */
#include "collectors/log_names.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum placeholder {
    PH_INSTANCE_ID,
    PH_HOSTNAME,
    PH_LOCAL_HOSTNAME,
    PH_IP_ADDRESS,
    PH_AWS_REGION,
    PH_DATE,
    PH_COUNT,
};

static const char *const placeholder_names[PH_COUNT] = {
    "instance_id", "hostname", "local_hostname", "ip_address", "aws_region", "date",
};

/* At tmpl[i] == '{': the length of "{name}" when it has placeholder syntax, else 0. */
static size_t placeholder_len(const char *s)
{
    size_t n = 1;
    while ((s[n] >= 'a' && s[n] <= 'z') || s[n] == '_')
        n++;
    return n > 1 && s[n] == '}' ? n + 1 : 0;
}

static int placeholder_lookup(const char *s, size_t len)
{
    for (int p = 0; p < PH_COUNT; p++)
        if (strlen(placeholder_names[p]) == len - 2 &&
            memcmp(placeholder_names[p], s + 1, len - 2) == 0)
            return p;
    return -1;
}

static void first_ipv4(char *out, size_t cap)
{
    struct ifaddrs *list = NULL;
    snprintf(out, cap, "UNKNOWN-IP");
    if (getifaddrs(&list) != 0)
        return;
    for (struct ifaddrs *i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)i->ifa_addr;
        /* 127/8 on an interface not flagged loopback is still loopback. */
        if ((ntohl(sin->sin_addr.s_addr) >> 24) == 127)
            continue;
        if (inet_ntop(AF_INET, &sin->sin_addr, out, (socklen_t)cap))
            break;
        snprintf(out, cap, "UNKNOWN-IP");
    }
    freeifaddrs(list);
}

static void resolve(enum placeholder p, const struct plugin_env *env, uint64_t now_ns, char *out,
                    size_t cap)
{
    const struct instance_meta *m = env ? env->instance : NULL;
    const char *hostname = env && env->hostname && *env->hostname ? env->hostname : NULL;
    switch (p) {
    case PH_INSTANCE_ID:
        snprintf(out, cap, "%s", m && m->instance_id[0] ? m->instance_id : "i-UNKNOWN");
        return;
    case PH_HOSTNAME:
    case PH_LOCAL_HOSTNAME:
        if (p == PH_HOSTNAME && hostname) {
            snprintf(out, cap, "%s", hostname);
            return;
        }
        if (gethostname(out, cap) != 0 || !out[0])
            snprintf(out, cap, "UNKNOWN-HOST");
        out[cap - 1] = '\0';
        return;
    case PH_IP_ADDRESS:
        first_ipv4(out, cap);
        return;
    case PH_AWS_REGION:
        snprintf(out, cap, "%s",
                 env && env->region && *env->region ? env->region
                 : m && m->region[0]                ? m->region
                                                    : "UNKNOWN-REGION");
        return;
    case PH_DATE: {
        time_t t = (time_t)(now_ns / 1000000000ull);
        struct tm tm;
        if (!localtime_r(&t, &tm) || strftime(out, cap, "%Y-%m-%d", &tm) == 0)
            snprintf(out, cap, "1970-01-01");
        return;
    }
    case PH_COUNT:
        break;
    }
    out[0] = '\0';
}

int log_names_check(const char *tmpl, char *err, size_t err_len)
{
    if (err && err_len)
        err[0] = '\0';
    for (const char *s = tmpl; *s; s++) {
        size_t len = *s == '{' ? placeholder_len(s) : 0;
        if (!len)
            continue;
        if (placeholder_lookup(s, len) < 0) {
            if (err && err_len)
                snprintf(err, err_len,
                         "unknown placeholder '%.*s' (supported: {instance_id}, {hostname}, "
                         "{local_hostname}, {ip_address}, {aws_region}, {date})",
                         (int)len, s);
            return -EINVAL;
        }
        s += len - 1;
    }
    return 0;
}

int log_names_expand(const char *tmpl, const struct plugin_env *env, uint64_t now_ns, char *out,
                     size_t cap)
{
    if (cap == 0)
        return -ENAMETOOLONG;
    out[0] = '\0';
    if (!tmpl || !*tmpl) {
        const struct instance_meta *m = env ? env->instance : NULL;
        if (m && m->instance_id[0])
            tmpl = "{instance_id}";
        else if (env && env->hostname && *env->hostname)
            tmpl = "{hostname}";
        else
            tmpl = "{local_hostname}";
    }
    int r = log_names_check(tmpl, NULL, 0);
    if (r != 0)
        return r;
    size_t limit = cap - 1 < LOG_NAMES_MAX ? cap - 1 : LOG_NAMES_MAX;
    size_t n = 0;
    for (const char *s = tmpl; *s;) {
        size_t len = *s == '{' ? placeholder_len(s) : 0;
        char value[LOG_NAMES_MAX + 1];
        const char *piece = s;
        size_t piece_len = 1;
        if (len) {
            resolve((enum placeholder)placeholder_lookup(s, len), env, now_ns, value,
                    sizeof(value));
            piece = value;
            piece_len = strlen(value);
            s += len;
        } else {
            s++;
        }
        if (piece_len > limit - n) {
            out[n] = '\0';
            return -ENAMETOOLONG;
        }
        memcpy(out + n, piece, piece_len);
        n += piece_len;
    }
    out[n] = '\0';
    return (int)n;
}

int log_names_default_group(const char *file_path, char *out, size_t cap)
{
    if (cap == 0)
        return -ENAMETOOLONG;
    out[0] = '\0';
    const char *base = strrchr(file_path, '/');
    const char *dot = strrchr(base ? base : file_path, '.');
    size_t n = dot ? (size_t)(dot - file_path) : strlen(file_path);
    if (n > LOG_NAMES_MAX || n > cap - 1)
        return -ENAMETOOLONG;
    memcpy(out, file_path, n);
    out[n] = '\0';
    return (int)n;
}
