#include "agent/instance_meta.h"

#include "exporters/http.h"

#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static const struct {
    const char *placeholder;
    size_t offset;
} placeholders[] = {
    {"${aws:InstanceId}", offsetof(struct instance_meta, instance_id)},
    {"${aws:InstanceType}", offsetof(struct instance_meta, instance_type)},
    {"${aws:ImageId}", offsetof(struct instance_meta, image_id)},
    {"${aws:AutoScalingGroupName}", offsetof(struct instance_meta, autoscaling_group)},
};

bool instance_meta_placeholder_known(const char *value)
{
    for (size_t i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++)
        if (strcmp(value, placeholders[i].placeholder) == 0)
            return true;
    return false;
}

const char *instance_meta_lookup(const struct instance_meta *m, const char *placeholder)
{
    if (!m)
        return NULL;
    for (size_t i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++) {
        if (strcmp(placeholder, placeholders[i].placeholder) == 0) {
            const char *v = (const char *)m + placeholders[i].offset;
            return v[0] ? v : NULL;
        }
    }
    return NULL;
}

/* One request at a time on a private loop: this runs before the agent's loops exist. */
struct fetch {
    uv_loop_t loop;
    struct http_client *http;
    long status;
    int error;
    char body[4096];
    size_t body_len;
    bool done;
};

static void on_done(const struct http_response *resp, void *data)
{
    struct fetch *f = data;
    f->status = resp->status;
    f->error = resp->error;
    f->body_len = resp->body_len < sizeof(f->body) - 1 ? resp->body_len : sizeof(f->body) - 1;
    if (resp->body)
        memcpy(f->body, resp->body, f->body_len);
    f->body[f->body_len] = '\0';
    f->done = true;
}

static int fetch_one(struct fetch *f, const char *method, const char *url, const char *token,
                     uint64_t timeout_ms)
{
    struct http_request req = {
        .method = method, .url = url, .timeout_ms = timeout_ms, .max_response_bytes = 64 * 1024};
    if (token)
        (void)http_request_add_header(&req, "X-aws-ec2-metadata-token", token);
    else
        (void)http_request_add_header(&req, "X-aws-ec2-metadata-token-ttl-seconds", "300");
    f->done = false;
    int r = http_submit(f->http, &req, on_done, f);
    if (r != 0)
        return r;
    while (!f->done)
        uv_run(&f->loop, UV_RUN_ONCE);
    return f->error ? f->error : 0;
}

/* Values longer than the field are cut (none of IMDS's identifiers comes close). */
static void copy_string(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strnlen(src, cap - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static void on_closed(void *data)
{
    (void)data;
}

int instance_meta_fetch(const char *endpoint, uint64_t timeout_ms, struct instance_meta *ret)
{
    memset(ret, 0, sizeof(*ret));
    struct fetch *f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    int r = uv_loop_init(&f->loop);
    if (r != 0) {
        free(f);
        return r;
    }
    struct http_client_options ho;
    http_client_options_default(&ho);
    ho.proxy = ""; /* link-local: never through a proxy */
    ho.connect_timeout_ms = timeout_ms;
    r = http_client_create(&f->loop, &ho, &f->http);
    if (r != 0)
        goto out_loop;

    char url[512], token[512];
    snprintf(url, sizeof(url), "%s/latest/api/token", endpoint);
    r = fetch_one(f, "PUT", url, NULL, timeout_ms);
    if (r == 0 && f->status != 200)
        r = -EACCES;
    if (r != 0)
        goto out_http;
    copy_string(token, sizeof(token), f->body);

    snprintf(url, sizeof(url), "%s/latest/dynamic/instance-identity/document", endpoint);
    r = fetch_one(f, "GET", url, token, timeout_ms);
    if (r == 0 && f->status != 200)
        r = -ENOENT;
    if (r != 0)
        goto out_http;
    json_t *doc = json_loadb(f->body, f->body_len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        r = -EBADMSG;
        goto out_http;
    }
    copy_string(ret->instance_id, sizeof(ret->instance_id),
                json_string_value(json_object_get(doc, "instanceId")));
    copy_string(ret->instance_type, sizeof(ret->instance_type),
                json_string_value(json_object_get(doc, "instanceType")));
    copy_string(ret->image_id, sizeof(ret->image_id),
                json_string_value(json_object_get(doc, "imageId")));
    copy_string(ret->region, sizeof(ret->region),
                json_string_value(json_object_get(doc, "region")));
    json_decref(doc);

    /* 404 unless the instance exposes its tags in metadata: the name then stays unknown. */
    snprintf(url, sizeof(url), "%s/latest/meta-data/tags/instance/aws:autoscaling:groupName",
             endpoint);
    if (fetch_one(f, "GET", url, token, timeout_ms) == 0 && f->status == 200)
        copy_string(ret->autoscaling_group, sizeof(ret->autoscaling_group), f->body);
    r = 0;

out_http:
    http_client_close(f->http, on_closed, NULL);
    while (uv_run(&f->loop, UV_RUN_DEFAULT) != 0)
        ;
out_loop:
    (void)uv_loop_close(&f->loop);
    free(f);
    return r;
}
