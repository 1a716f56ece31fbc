/*
 * log_names: the CloudWatch agent's placeholders in log_group_name / log_stream_name.
 *
 * Each placeholder resolves as the CloudWatch agent resolves it (its
 * translator/translate/util/placeholderUtil.go), with the values Osprey knows:
 *   {instance_id}     EC2 instance id (env->instance), else "i-UNKNOWN"
 *   {hostname}        env->hostname (osprey.hostname, else gethostname(); the agent
 *                     prefers the metadata hostname, which Osprey does not fetch)
 *   {local_hostname}  gethostname(), whatever the metadata or osprey.hostname say
 *   {ip_address}      the first non-loopback IPv4 address of the host's interfaces
 *                     (getifaddrs, in the kernel's order), else "UNKNOWN-IP"; the agent
 *                     prefers the metadata's private IP, which Osprey does not fetch
 *   {aws_region}      env->region, else the metadata region, else "UNKNOWN-REGION"
 *   {date}            the local date at expansion time, yyyy-mm-dd (the agent formats
 *                     Go's time.Now(), i.e. in the process's time zone)
 * Text outside placeholders is copied as is, including a '{' that does not open a
 * placeholder name ([a-z_]+ followed by '}').
 *
 * An empty template means the CloudWatch agent's default stream name ("{instance_id}")
 * with Osprey's fallback for hosts off EC2: the instance id, else env->hostname (a shared
 * "i-UNKNOWN" stream would mix every such host's events).
 *
 * Contract
 * - Pure apart from gethostname(), getifaddrs() and the clock argument; thread-safe;
 *   no allocation that outlives the call.
 * - Returns the length written to out (NUL-terminated), -EINVAL for an unknown
 *   placeholder, -ENAMETOOLONG when the result is longer than LOG_NAMES_MAX (CloudWatch
 *   Logs' limit for group and stream names) or does not fit in cap.
 * - log_names_check() only validates a template (unknown placeholders), naming the bad
 *   placeholder in err; it does not look at the host.
 */
#ifndef OSPREY_LOG_NAMES_H
#define OSPREY_LOG_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "agent/plugin.h"

#define LOG_NAMES_MAX 512

int log_names_expand(const char *tmpl, const struct plugin_env *env, uint64_t now_ns, char *out,
                     size_t cap);
int log_names_check(const char *tmpl, char *err, size_t err_len);
/* The group of a collect_list entry without log_group_name, as the CloudWatch agent
 * documents it: the file_path up to its final period (in the last path component; the
 * whole path when that has none): "/tmp/app.log.2017-07-11" -> "/tmp/app.log". Length, or
 * -ENAMETOOLONG (over LOG_NAMES_MAX or cap - 1). */
int log_names_default_group(const char *file_path, char *out, size_t cap);

#endif
