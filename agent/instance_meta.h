/*
 * instance_meta: what EC2 instance metadata (IMDSv2) says about the host, for the
 * CloudWatch agent's "${aws:InstanceId}"-style dimension values.
 *
 * Contract
 * - instance_meta_fetch() runs once at agent start, on the main thread before the loops
 *   start (it runs a private libuv loop of its own and blocks for at most a few times
 *   `timeout_ms`). It fills what it could learn and returns 0, or -errno when the
 *   metadata service did not answer (not on EC2, IMDS off, hop limit): the caller logs
 *   it once and publishes without the ${aws:...} dimensions, as the CloudWatch agent does
 *   off EC2. The Auto Scaling group name comes from the instance's tags in metadata
 *   (the InstanceMetadataTags option); without it that one value stays unknown.
 * - The struct is then read-only and may be read from any thread.
 * - instance_meta_lookup() maps a placeholder ("${aws:InstanceId}") to its value, NULL
 *   when unknown; instance_meta_placeholder_known() says whether a string is one of the
 *   four placeholders the CloudWatch agent defines. Both pure.
 */
#ifndef OSPREY_INSTANCE_META_H
#define OSPREY_INSTANCE_META_H

#include <stdbool.h>
#include <stdint.h>

struct instance_meta {
    char instance_id[64];
    char instance_type[64];
    char image_id[64];
    char region[64];
    char autoscaling_group[256];
};

#define INSTANCE_META_DEFAULT_ENDPOINT "http://169.254.169.254"

int instance_meta_fetch(const char *endpoint, uint64_t timeout_ms, struct instance_meta *ret);
const char *instance_meta_lookup(const struct instance_meta *m, const char *placeholder);
bool instance_meta_placeholder_known(const char *value);

#endif
