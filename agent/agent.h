/*
 * agent: the root object. It owns the settings, the ring, the pipeline and both loops,
 * and runs start-up and shutdown.
 *
 * Threads: agent_run() runs the collect loop on the calling thread and starts one export
 * thread with its own loop. The only hand-offs between them are the ring (records), the
 * ack ring (delivery outcomes back) and uv_async wake-ups.
 *
 * Shutdown (SIGINT/SIGTERM): collectors flush and stop; once the last one has closed its
 * handles the ring's input is closed; the export loop drains the ring, flushes every
 * exporter and waits for them up to osprey.shutdown_deadline; the collect loop then
 * takes the last acks and closes. Both loops must close cleanly (uv_loop_close() == 0).
 *
 * Reload (SIGHUP): the file is loaded and checked again; an invalid one is rejected (errors
 * logged, nothing touched). Unchanged collectors keep running; changed or removed ones
 * stop, keep receiving their acks until quiescent (or the shutdown deadline), then are
 * replaced by instances with fresh ids. A change outside the collectors' own subtrees
 * (sinks, endpoints, credentials, the agent/osprey/traces sections) restarts everything
 * in-process after draining the ring, as at shutdown. docs/operations.md has the rules.
 * The health endpoint (agent/health.h) runs on the collect loop.
 *
 * Returns from agent_run: 0 after a clean shutdown, 1 when the configuration is invalid
 * or a plugin fails to start, 2 when a loop did not close cleanly.
 */
#ifndef OSPREY_AGENT_H
#define OSPREY_AGENT_H

#include <stdio.h>

/* Validate a configuration file: prints "FILE: valid" to out, or every error (one per
 * line, FILE:LINE:COL: message) to err. Returns 0 when valid, 1 otherwise. */
int agent_check_config(const char *path, FILE *out, FILE *err);

int agent_run(const char *config_path);

#endif
