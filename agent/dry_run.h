/*
 * dry_run: `osprey --dry-run --config FILE`, what a configuration would do, sending
 * nothing.
 *
 * Contract
 * - dry_run_main() loads the settings (every error reported as "FILE:LINE:COL: message"
 *   on `err`) and prints on `out`: each sink with its resolved endpoint and region, the
 *   credential chain (its order and which sources are configured or present, from the
 *   environment and the local shared files only: nothing is fetched), each collector
 *   instance with its describe output (listen addresses, matched files), and the metric
 *   series the scraping metric plugins publish, with their count.
 * - Series come from running every metric plugin that scrapes the host (metric_common
 *   and no describe callback: listeners' series depend on their clients) on a private
 *   loop and ring for a few short scrapes (delta metrics need two), decoding what they
 *   emit. LOCAL_ONLY points are skipped. No exporter is started, no socket is opened.
 * - Returns the exit code: 0 when the configuration is valid, 1 otherwise (or when the
 *   private run could not be set up). Called from main, before any loop exists.
 */
#ifndef OSPREY_DRY_RUN_H
#define OSPREY_DRY_RUN_H

#include <stdio.h>

int dry_run_main(const char *path, FILE *out, FILE *err);

#endif
