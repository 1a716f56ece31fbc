/*
 * alarms: the exporter that evaluates `osprey.alarms` on the metric points that flow
 * through the agent (agent/alarm_engine.h), persists their state and history in the state
 * directory, and runs their actions on state transitions.
 *
 * DESIGN: it is a sink for metric records on the export loop, like the others, so it sees
 * every point any collector produces (including EMF points that are not sent to
 * CloudWatch) without a second path. A timer fires when the next period is due; every
 * transition saves the state file and starts the alarm's actions for the new state:
 *   log      a warning line in the agent's log
 *   exec     /bin/sh -c COMMAND with OSPREY_ALARM_* variables and the notification JSON on
 *            standard input, killed after exec_timeout
 *   webhook  HTTP POST of an SNS-shaped notification envelope (JSON)
 *   SNS      Publish (query API, SigV4) to the topic, through the AWS sender
 * A failed action (exit status, non-2xx, transport error, SNS error) is retried with
 * exponential backoff up to action_attempts and counted (errors, retries, and
 * batches_ok/batches_failed per action run).
 */
#include "agent/alarm_engine.h"
#include "agent/clock.h"
#include "agent/httpd.h"
#include "agent/log.h"
#include "exporters/aws.h"
#include "exporters/cw_metrics_encode.h"
#include "exporters/exporter.h"
#include "exporters/http.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct alarms_sink;

struct action_run {
    struct alarms_sink *sink;
    const struct alarm_action *action;
    char alarm_name[256];
    char *env[8];
    char *payload; /* notification JSON (exec stdin), or request body */
    size_t payload_len;
    char subject[128];
    unsigned attempts;
    uv_timer_t retry_timer;
    uv_process_t process;
    uv_pipe_t stdin_pipe;
    uv_write_t write_req;
    uv_timer_t kill_timer;
    unsigned handles; /* open handles of this run */
    bool in_flight;
    bool finished;
    struct action_run *next;
};

struct alarms_sink {
    json_t *alarms_json;
    char *state_file;
    uint64_t exec_timeout_ns;
    int64_t action_attempts;
    char *account_id;
    char *http_address;
    struct aws_connection conn; /* SNS: endpoint, region, retries */

    struct alarm_engine engine;
    struct exporter *e;
    uv_loop_t *loop;
    uv_timer_t timer;
    struct http_client *http;
    struct httpd *httpd;
    struct aws_sender sns;
    bool sns_used, sns_started;
    struct action_run *runs;
    unsigned runs_in_flight;
    bool stopping;
    bool changed; /* a transition in this evaluation: save the state file */
    char state_path[1024];
};

static const struct cfg_field alarms_fields[] = {
    {"alarms", CFG_JSON, offsetof(struct alarms_sink, alarms_json), NULL, 0, 0, NULL, CFG_REQUIRED,
     "alarm definitions with PutMetricAlarm / PutCompositeAlarm field names"},
    {"state_file", CFG_STRING, offsetof(struct alarms_sink, state_file), NULL, 0, 0, NULL, 0,
     "where state and history persist (default: <state_dir>/alarms.json)"},
    {"exec_timeout", CFG_SECONDS, offsetof(struct alarms_sink, exec_timeout_ns), "30", 1, 3600,
     NULL, 0, "seconds an exec action may run before it is killed"},
    {"action_attempts", CFG_INT, offsetof(struct alarms_sink, action_attempts), "4", 1, 20, NULL, 0,
     "tries per action before it is given up (backoff 1 s, 2 s, 4 s, ...)"},
    {"account_id", CFG_STRING, offsetof(struct alarms_sink, account_id), "000000000000", 0, 0, NULL,
     0, "AWSAccountId and alarm ARNs in notifications"},
    {"http_address", CFG_STRING, offsetof(struct alarms_sink, http_address), NULL, 0, 0, NULL, 0,
     "\"127.0.0.1:2022\": serve GET /alarms (the JSON of `osprey alarms list --json`) and "
     "GET /alarms/NAME, read-only; unset = off"},
    CFG_END,
};

/* ---- actions ---------------------------------------------------------------------- */

static void run_finish(struct action_run *r, bool ok);
static void run_start(struct action_run *r);

static void run_release(struct action_run *r)
{
    for (size_t i = 0; i < sizeof(r->env) / sizeof(r->env[0]); i++)
        free(r->env[i]);
    free(r->payload);
    free(r);
}

static void on_run_handle_closed(uv_handle_t *h)
{
    struct action_run *r = h->data;
    struct alarms_sink *s = r->sink;
    exporter_handle_closed(s->e);
    if (--r->handles == 0 && r->finished) {
        struct action_run **pp = &s->runs;
        while (*pp && *pp != r)
            pp = &(*pp)->next;
        if (*pp)
            *pp = r->next;
        run_release(r);
    }
}

static void run_close_handle(struct action_run *r, uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_run_handle_closed);
}

static void on_retry(uv_timer_t *t)
{
    run_start(t->data);
}

static void run_finish(struct action_run *r, bool ok)
{
    struct alarms_sink *s = r->sink;
    r->in_flight = false;
    s->runs_in_flight--;
    if (ok) {
        selfstats_add(&s->e->stats.batches_ok, 1);
    } else {
        selfstats_add(&s->e->stats.errors, 1);
        if (r->attempts < (unsigned)s->action_attempts && !s->stopping) {
            selfstats_add(&s->e->stats.retries, 1);
            uint64_t delay_ms = 1000ull << (r->attempts - 1 < 10 ? r->attempts - 1 : 10);
            r->in_flight = true;
            s->runs_in_flight++;
            uv_timer_start(&r->retry_timer, on_retry, delay_ms, 0);
            return;
        }
        selfstats_add(&s->e->stats.batches_failed, 1);
        log_warn(s->e->name, "alarm '%s': action '%s' failed %u times, giving up", r->alarm_name,
                 r->action->text, r->attempts);
    }
    r->finished = true;
    run_close_handle(r, (uv_handle_t *)&r->retry_timer);
}

static void on_exec_exit(uv_process_t *p, int64_t status, int sig)
{
    struct action_run *r = p->data;
    uv_timer_stop(&r->kill_timer);
    run_close_handle(r, (uv_handle_t *)&r->kill_timer);
    run_close_handle(r, (uv_handle_t *)&r->process);
    if (status != 0 || sig != 0)
        log_warn(r->sink->e->name, "alarm '%s': '%s' exited with %s %d", r->alarm_name,
                 r->action->text, sig ? "signal" : "status", sig ? sig : (int)status);
    run_finish(r, status == 0 && sig == 0);
}

static void on_exec_timeout(uv_timer_t *t)
{
    struct action_run *r = t->data;
    log_warn(r->sink->e->name, "alarm '%s': '%s' ran too long, killed", r->alarm_name,
             r->action->text);
    uv_process_kill(&r->process, SIGKILL);
}

static void on_stdin_written(uv_write_t *w, int status)
{
    struct action_run *r = w->data;
    (void)status; /* a command that does not read its input is not a failure */
    run_close_handle(r, (uv_handle_t *)&r->stdin_pipe);
}

static void run_exec(struct action_run *r)
{
    struct alarms_sink *s = r->sink;
    uv_pipe_init(s->loop, &r->stdin_pipe, 0);
    r->stdin_pipe.data = r;
    r->handles++;
    exporter_handle_opened(s->e);
    char *args[] = {"/bin/sh", "-c", r->action->target, NULL};
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&r->stdin_pipe},
        {.flags = UV_INHERIT_FD, .data.fd = 2}, /* the command's output goes to our log */
        {.flags = UV_INHERIT_FD, .data.fd = 2},
    };
    uv_process_options_t o = {.exit_cb = on_exec_exit,
                              .file = args[0],
                              .args = args,
                              .env = r->env,
                              .stdio_count = 3,
                              .stdio = stdio};
    r->process.data = r;
    int rc = uv_spawn(s->loop, &r->process, &o);
    if (rc != 0) {
        log_warn(s->e->name, "alarm '%s': cannot run '%s': %s", r->alarm_name, r->action->text,
                 uv_strerror(rc));
        run_close_handle(r, (uv_handle_t *)&r->stdin_pipe);
        run_finish(r, false);
        return;
    }
    r->handles += 2; /* process and kill timer */
    exporter_handle_opened(s->e);
    exporter_handle_opened(s->e);
    uv_timer_init(s->loop, &r->kill_timer);
    r->kill_timer.data = r;
    uv_timer_start(&r->kill_timer, on_exec_timeout, s->exec_timeout_ns / NS_PER_MS, 0);
    uv_buf_t b = uv_buf_init(r->payload, (unsigned)r->payload_len);
    r->write_req.data = r;
    if (uv_write(&r->write_req, (uv_stream_t *)&r->stdin_pipe, &b, 1, on_stdin_written) != 0)
        run_close_handle(r, (uv_handle_t *)&r->stdin_pipe);
}

static void on_webhook_done(const struct http_response *resp, void *data)
{
    struct action_run *r = data;
    bool ok = resp->status >= 200 && resp->status < 300;
    if (!ok)
        log_warn(r->sink->e->name, "alarm '%s': webhook %s answered %ld%s%s", r->alarm_name,
                 r->action->target, resp->status, resp->error ? ": " : "",
                 resp->error ? resp->error_text : "");
    run_finish(r, ok);
}

static void on_sns_done(void *data, const struct http_response *resp, const struct aws_error *err)
{
    struct action_run *r = data;
    bool ok = resp->status == 200 && !err->code[0];
    if (!ok)
        log_warn(r->sink->e->name, "alarm '%s': SNS Publish to %s failed: %ld %s %s", r->alarm_name,
                 r->action->target, resp->status, err->code, err->message);
    run_finish(r, ok);
}

static void run_start(struct action_run *r)
{
    struct alarms_sink *s = r->sink;
    r->attempts++;
    if (r->attempts == 1) {
        r->in_flight = true;
        s->runs_in_flight++;
    }
    switch (r->action->kind) {
    case ALARM_ACTION_LOG:
        run_finish(r, true);
        return;
    case ALARM_ACTION_EXEC:
        run_exec(r);
        return;
    case ALARM_ACTION_WEBHOOK: {
        struct http_request req = {.method = "POST",
                                   .url = r->action->target,
                                   .body = (const uint8_t *)r->payload,
                                   .body_len = r->payload_len,
                                   .timeout_ms = 10000};
        (void)http_request_add_header(&req, "Content-Type", "application/json");
        (void)http_request_add_header(&req, "x-amz-sns-message-type", "Notification");
        int rc = http_submit(s->http, &req, on_webhook_done, r);
        if (rc != 0) {
            log_warn(s->e->name, "alarm '%s': cannot call webhook %s: %s", r->alarm_name,
                     r->action->target, strerror(-rc));
            run_finish(r, false);
        }
        return;
    }
    case ALARM_ACTION_SNS: {
        int rc =
            aws_sender_call(&s->sns, "/", NULL, "application/x-www-form-urlencoded; charset=utf-8",
                            (const uint8_t *)r->payload, r->payload_len, on_sns_done, r);
        if (rc != 0) {
            log_warn(s->e->name, "alarm '%s': cannot send SNS Publish to %s: %s", r->alarm_name,
                     r->action->target, strerror(-rc));
            run_finish(r, false);
        }
        return;
    }
    }
}

static char *env_pair(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s=%s", name, value);
    return s;
}

/* The SNS message envelope a webhook receives, with the alarm notification as Message. */
static char *sns_envelope(const char *topic, const char *subject, const char *message,
                          int64_t now_ms)
{
    char t[40], id[64];
    alarm_format_time(now_ms, t, sizeof(t));
    snprintf(id, sizeof(id), "osprey-%lld", (long long)now_ms);
    json_t *env =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "Type", "Notification", "MessageId", id,
                  "TopicArn", topic, "Subject", subject, "Message", message, "Timestamp", t);
    char *text = env ? json_dumps(env, JSON_COMPACT) : NULL;
    json_decref(env);
    return text;
}

static char *sns_publish_body(const char *topic, const char *subject, const char *message)
{
    struct buf b;
    buf_init(&b, 1024 * 1024); /* SNS takes 256 KB messages; encoding can triple them */
    int r = buf_append_str(&b, "Action=Publish&Version=2010-03-31&TopicArn=");
    r = r ? r : cwm_form_append(&b, topic, strlen(topic));
    r = r ? r : buf_append_str(&b, "&Subject=");
    r = r ? r : cwm_form_append(&b, subject, strlen(subject));
    r = r ? r : buf_append_str(&b, "&Message=");
    r = r ? r : cwm_form_append(&b, message, strlen(message));
    r = r ? r : buf_append(&b, "", 1);
    if (r != 0) {
        buf_release(&b);
        return NULL;
    }
    return (char *)b.data; /* the buffer's storage is the string */
}

static void start_actions(struct alarms_sink *s, const struct alarm_entry *a,
                          enum alarm_state old_state, int64_t now_ms)
{
    const struct alarm_def *d = &a->def;
    log_warn(s->e->name, "alarm '%s' is now %s (was %s): %s", d->name, alarm_state_name(a->state),
             alarm_state_name(old_state), a->reason);
    if (!d->actions_enabled || d->n_actions[a->state] == 0)
        return;
    json_t *note = alarm_notification_json(a, old_state, now_ms, s->e->env->region, s->account_id);
    char *message = note ? json_dumps(note, JSON_COMPACT) : NULL;
    json_decref(note);
    if (!message) {
        selfstats_add(&s->e->stats.errors, 1);
        return;
    }
    char subject[128];
    snprintf(subject, sizeof(subject), "%s: \"%.60s\" in %s", alarm_state_name(a->state), d->name,
             s->e->env->region ? s->e->env->region : "local");
    for (size_t i = 0; i < d->n_actions[a->state]; i++) {
        const struct alarm_action *act = &d->actions[a->state][i];
        if (act->kind == ALARM_ACTION_LOG)
            continue; /* the line above */
        struct action_run *r = calloc(1, sizeof(*r));
        if (!r) {
            selfstats_add(&s->e->stats.errors, 1);
            continue;
        }
        r->sink = s;
        r->action = act;
        snprintf(r->alarm_name, sizeof(r->alarm_name), "%s", d->name);
        snprintf(r->subject, sizeof(r->subject), "%s", subject);
        if (act->kind == ALARM_ACTION_EXEC) {
            const char *path = getenv("PATH");
            r->env[0] = env_pair("OSPREY_ALARM_NAME", d->name);
            r->env[1] = env_pair("OSPREY_ALARM_STATE", alarm_state_name(a->state));
            r->env[2] = env_pair("OSPREY_ALARM_OLD_STATE", alarm_state_name(old_state));
            r->env[3] = env_pair("OSPREY_ALARM_REASON", a->reason);
            r->env[4] = env_pair("PATH", path ? path : "/usr/bin:/bin");
            r->payload = strdup(message);
        } else if (act->kind == ALARM_ACTION_WEBHOOK) {
            r->payload = sns_envelope("osprey:webhook", subject, message, now_ms);
        } else {
            r->payload = sns_publish_body(act->target, subject, message);
        }
        if (!r->payload) {
            log_warn(s->e->name, "alarm '%s': cannot prepare action '%s' (out of memory)", d->name,
                     act->text);
            run_release(r);
            selfstats_add(&s->e->stats.errors, 1);
            continue;
        }
        r->payload_len = strlen(r->payload);
        uv_timer_init(s->loop, &r->retry_timer);
        r->retry_timer.data = r;
        r->handles = 1;
        exporter_handle_opened(s->e);
        r->next = s->runs;
        s->runs = r;
        run_start(r);
    }
    free(message);
}

/* ---- evaluation ------------------------------------------------------------------- */

static void on_change(void *data, const struct alarm_entry *a, enum alarm_state old_state,
                      int64_t now_ms)
{
    struct alarms_sink *s = data;
    s->changed = true;
    start_actions(s, a, old_state, now_ms);
}

static void schedule(struct alarms_sink *s);

static void on_timer(uv_timer_t *t)
{
    struct alarms_sink *s = t->data;
    int64_t now_ms = (int64_t)(clock_realtime_ns() / NS_PER_MS);
    s->changed = false;
    alarm_engine_evaluate(&s->engine, now_ms, on_change, s);
    if (s->changed) {
        int r = alarm_engine_save(&s->engine, s->state_path);
        if (r != 0) {
            selfstats_add(&s->e->stats.errors, 1);
            log_warn(s->e->name, "cannot save alarm state to %s: %s", s->state_path, strerror(-r));
        }
    }
    schedule(s);
}

static void schedule(struct alarms_sink *s)
{
    int64_t now_ms = (int64_t)(clock_realtime_ns() / NS_PER_MS);
    int64_t due = alarm_engine_next_due(&s->engine, now_ms);
    if (due == INT64_MAX)
        due = now_ms + 60000; /* composites only: nothing to wait for but a heartbeat */
    uv_timer_start(&s->timer, on_timer, (uint64_t)(due > now_ms ? due - now_ms : 0), 0);
}

static void on_part_closed(void *data)
{
    struct alarms_sink *s = data;
    exporter_handle_closed(s->e);
}

/* ---- read-only HTTP endpoint ------------------------------------------------------ */

static void respond_json(struct httpd_conn *conn, int status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    static const struct httpd_response_header h[] = {{"Content-Type", "application/json"}};
    if (!text) {
        (void)httpd_respond(conn, 500, NULL, 0, NULL, 0, true);
        return;
    }
    (void)httpd_respond(conn, status, h, 1, (const uint8_t *)text, strlen(text), false);
    free(text);
}

static void on_http_request(struct httpd_conn *conn, const struct httpd_request *req, void *data)
{
    struct alarms_sink *s = data;
    if (!httpd_str_eq(req->method, "GET") && !httpd_str_eq(req->method, "HEAD")) {
        static const struct httpd_response_header allow[] = {{"Allow", "GET, HEAD"}};
        (void)httpd_respond(conn, 405, allow, 1, NULL, 0, false);
        return;
    }
    if (httpd_str_eq(req->path, "/alarms") || httpd_str_eq(req->path, "/alarms/")) {
        respond_json(conn, 200, alarm_engine_list_json(&s->engine, true));
        return;
    }
    static const char prefix[] = "/alarms/";
    if (req->path.len > sizeof(prefix) - 1 &&
        memcmp(req->path.p, prefix, sizeof(prefix) - 1) == 0) {
        char name[256];
        size_t n = req->path.len - (sizeof(prefix) - 1);
        if (n < sizeof(name)) {
            memcpy(name, req->path.p + sizeof(prefix) - 1, n);
            name[n] = '\0';
            json_t *all = alarm_engine_list_json(&s->engine, true);
            size_t i;
            json_t *a;
            json_array_foreach(json_object_get(all, "alarms"), i, a)
            {
                const char *an = json_string_value(json_object_get(a, "AlarmName"));
                if (an && strcmp(an, name) == 0) {
                    json_incref(a);
                    json_decref(all);
                    respond_json(conn, 200, a);
                    return;
                }
            }
            json_decref(all);
        }
    }
    respond_json(conn, 404, json_pack("{s:s}", "error", "no such alarm or path"));
}

/* ---- plugin ----------------------------------------------------------------------- */

static int alarms_init(struct exporter *e)
{
    struct alarms_sink *s = e->ctx;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    int r = alarm_engine_init(&s->engine, s->alarms_json, "osprey.alarms", &errs);
    for (size_t i = 0; i < errs.n; i++)
        exporter_config_error(e, "alarms", "%s", errs.msgs[i]);
    cfg_errors_release(&errs);
    if (r != 0)
        return r;
    for (size_t i = 0; i < s->engine.n_alarms; i++)
        for (int st = 0; st < 3; st++)
            for (size_t k = 0; k < s->engine.alarms[i].def.n_actions[st]; k++)
                if (s->engine.alarms[i].def.actions[st][k].kind == ALARM_ACTION_SNS)
                    s->sns_used = true;
    if (s->sns_used && aws_connection_check(e, &s->conn, "sns") != 0)
        return -EINVAL;
    if (s->state_file)
        snprintf(s->state_path, sizeof(s->state_path), "%s", s->state_file);
    else
        snprintf(s->state_path, sizeof(s->state_path), "%s/alarms.json",
                 e->env->state_dir ? e->env->state_dir : ".");
    return 0;
}

static int alarms_start(struct exporter *e, uv_loop_t *loop)
{
    struct alarms_sink *s = e->ctx;
    s->e = e;
    s->loop = loop;
    int r = alarm_engine_load(&s->engine, s->state_path);
    if (r == 0)
        log_info(e->name, "alarm state restored from %s", s->state_path);
    else if (r != -ENOENT)
        log_warn(e->name, "alarm state in %s is unreadable (%s): starting from INSUFFICIENT_DATA",
                 s->state_path, strerror(-r));
    struct http_client_options ho;
    http_client_options_default(&ho);
    r = http_client_create(loop, &ho, &s->http);
    if (r != 0)
        return r;
    if (s->sns_used) {
        struct aws_sender_options o;
        r = aws_sender_options_init(&o, e, &s->conn, "sns", "sns");
        if (r == 0) {
            o.protocol = AWS_PROTOCOL_QUERY;
            o.gzip = false;
            r = aws_sender_init(&s->sns, e, loop, &o, &(struct aws_sender_callbacks){0}, s);
        }
        if (r != 0)
            return r;
        s->sns_started = true;
    }
    if (s->http_address) {
        r = httpd_create(loop, NULL, on_http_request, s, &s->httpd);
        if (r == 0)
            r = httpd_listen(s->httpd, s->http_address);
        if (r != 0) {
            log_error(e->name, "cannot serve alarms on %s: %s", s->http_address, strerror(-r));
            if (s->httpd) {
                exporter_handle_opened(e);
                httpd_close(s->httpd, on_part_closed, s);
                s->httpd = NULL;
            }
            return r;
        }
        log_info(e->name, "serving alarm states on http://%s/alarms", s->http_address);
    }
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    exporter_handle_opened(e);
    schedule(s);
    /* Saved at once, so `osprey alarms list` shows every alarm from the start. */
    (void)alarm_engine_save(&s->engine, s->state_path);
    return 0;
}

static int alarms_add(struct exporter *e, const struct record_view *v)
{
    struct alarms_sink *s = e->ctx;
    if (v->hdr.kind == RECORD_METRIC)
        alarm_engine_add_point(&s->engine, &v->u.metric, (int64_t)(v->hdr.ts_ns / NS_PER_MS));
    return 0;
}

static bool alarms_idle(struct exporter *e)
{
    struct alarms_sink *s = e->ctx;
    return s->runs_in_flight == 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct alarms_sink *s = h->data;
    exporter_handle_closed(s->e);
}

static void alarms_stop(struct exporter *e)
{
    struct alarms_sink *s = e->ctx;
    s->stopping = true;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
    (void)alarm_engine_save(&s->engine, s->state_path);
    for (struct action_run *r = s->runs; r; r = r->next) {
        if (r->action->kind == ALARM_ACTION_EXEC && uv_is_active((uv_handle_t *)&r->process))
            uv_process_kill(&r->process, SIGKILL);
        if (uv_is_active((uv_handle_t *)&r->retry_timer)) {
            uv_timer_stop(&r->retry_timer);
            r->in_flight = false;
            s->runs_in_flight--;
            r->finished = true;
            run_close_handle(r, (uv_handle_t *)&r->retry_timer);
        }
    }
    if (s->httpd) {
        exporter_handle_opened(e);
        httpd_close(s->httpd, on_part_closed, s);
        s->httpd = NULL;
    }
    exporter_handle_opened(e);
    http_client_close(s->http, on_part_closed, s);
    s->http = NULL;
    if (s->sns_started) {
        exporter_handle_opened(e);
        aws_sender_close(&s->sns, on_part_closed, s);
    }
}

static void alarms_destroy(struct exporter *e)
{
    struct alarms_sink *s = e->ctx;
    alarm_engine_release(&s->engine);
    while (s->runs) {
        struct action_run *r = s->runs;
        s->runs = r->next;
        run_release(r);
    }
}

const struct exporter_type exporter_alarms = {
    .name = "alarms",
    .help = "evaluates osprey.alarms (CloudWatch metric and composite alarms) on the host",
    .kinds = RECORD_KIND_BIT(RECORD_METRIC),
    .fields = alarms_fields,
    .ctx_size = sizeof(struct alarms_sink),
    .extra_fields = aws_connection_fields,
    .extra_offset = offsetof(struct alarms_sink, conn),
    .init = alarms_init,
    .start = alarms_start,
    .add = alarms_add,
    .idle = alarms_idle,
    .stop = alarms_stop,
    .destroy = alarms_destroy,
};
