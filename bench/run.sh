#!/usr/bin/env bash
# Builds a Release tree and runs every benchmark. Figures are reported against a baseline
# measured in the same run (see bench/README.md); the machines are shared and noisy.
#   IDLE_SECONDS=60 (default) sets the idle-cost run's length; 0 skips it.
#   EXPORT_EVENTS=300000 (default) sets the sustained-export run's size (200-byte events).
#   XRAY_UDP_SECONDS=2 (default) sets each step of the X-Ray UDP ingest ladder.
#   SIZE_MIB=1024 ENDPOINT_MIB=256 LIVE_RATE=50000 LIVE_SECONDS=60 size bench_tail.sh's runs.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j "$(nproc)" >/dev/null
for b in build-bench/bench/bench_*; do
  [ -x "$b" ] || continue
  [ "$(basename "$b")" = bench_xray_udp ] && continue # below, with the binary it drives
  echo "== $(basename "$b")"
  "$b"
done
echo "== bench_xray_udp (X-Ray UDP ingest vs a bare recvmmsg loop)"
build-bench/bench/bench_xray_udp build-bench/osprey "${XRAY_UDP_SECONDS:-2}"
echo "== sustained export to the compatible endpoint"
bench/export_sustained.sh build-bench/osprey "${EXPORT_EVENTS:-300000}" 200
echo "== log file tailing (files collector: null sink vs read+memchr, endpoint, live tail)"
bench/bench_tail.sh build-bench/osprey
if [ "${IDLE_SECONDS:-60}" != 0 ]; then
  echo "== idle cost of packaging/examples/local.json"
  bench/idle.sh build-bench/osprey "${IDLE_SECONDS:-60}"
  echo "== idle footprint, CloudWatch agent Standard metric set, against collectd"
  bench/idle_cwagent.sh build-bench/osprey "${IDLE_SECONDS:-60}"
fi
