#!/usr/bin/env bash
# Log file tailing (the `files` collector) through the whole agent, three runs:
#  1. throughput: a SIZE_MIB file of ~200-byte numbered lines, from_beginning, to the `null`
#     sink only, until every line was counted by the sink -> MB/s, lines/s, Osprey's CPU
#     seconds and peak RSS (/usr/bin/time -v). Baseline in the same run: a plain
#     read() + memchr() line split of the same file (tiny C program compiled here), page
#     cache warm for both. Goal: Osprey >= 50% of the baseline's MB/s.
#  2. export: an ENDPOINT_MIB file to the compatible endpoint (tests/endpoint) through the
#     cloudwatch_logs sink with gzip -> MB/s and Osprey CPU s per GB. The Python endpoint
#     validates every request against the service model and is the bottleneck, hence the
#     smaller default; CPU s/GB is the figure that describes Osprey.
#  3. live: a writer appends LIVE_RATE lines/s for LIVE_SECONDS while Osprey tails to the
#     null sink -> Osprey's CPU % and the end-to-end lag: for every summary line (every
#     0.1 s) the time since the newest line the null sink has counted was written
#     (the writer writes at a fixed rate from a known start, so line n was written at
#     t0 + n / rate): p50, p99, max.
#   bench/bench_tail.sh [OSPREY_BINARY]
#   SIZE_MIB=1024 ENDPOINT_MIB=256 LIVE_RATE=50000 LIVE_SECONDS=60 (0 skips a run's size)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
bin=$(realpath "${1:-build-bench/osprey}")
size_mib=${SIZE_MIB:-1024}
endpoint_mib=${ENDPOINT_MIB:-256}
live_rate=${LIVE_RATE:-50000}
live_seconds=${LIVE_SECONDS:-60}
line_bytes=200
work=$(mktemp -d)
ep_pid=
agent_pid=
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
  [ -n "$ep_pid" ] && kill "$ep_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=AKIDEXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_EC2_METADATA_DISABLED=true

# A file of numbered lines "<id> <seq> <padding>\n", line_bytes each.
make_file() { # path mib
  /usr/bin/python3 - "$1" "$2" "$line_bytes" <<'PY'
import sys
path, mib, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
n = mib * 1024 * 1024 // size
pad = "p" * size
with open(path, "w") as f:
    for start in range(0, n, 50000):
        f.write("".join(("B %09d " % i + pad)[:size - 1] + "\n"
                        for i in range(start, min(n, start + 50000))))
print(n)
PY
}

cat >"$work/memchr.c" <<'C'
/* Baseline: read() 256 KiB at a time and find every '\n' with memchr(). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    static char buf[1 << 18];
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0)
        return 1;
    unsigned long long lines = 0, bytes = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        bytes += (unsigned long long)n;
        for (char *p = buf, *end = buf + n; (p = memchr(p, '\n', (size_t)(end - p))); p++)
            lines++;
    }
    printf("%llu %llu\n", lines, bytes);
    return 0;
}
C
cc -O2 -o "$work/memchr" "$work/memchr.c"

# The summary line's delivered count for the null sink ("null=N"), last seen.
null_count() { grep -o 'null=[0-9]*' "$1" 2>/dev/null | tail -1 | cut -d= -f2; }

# Start osprey under /usr/bin/time; sets agent_pid (osprey itself) and time_pid.
start_agent() { # config agent_log time_txt
  /usr/bin/time -v -o "$3" "$bin" --config "$1" 2>"$2" &
  time_pid=$!
  for _ in $(seq 100); do
    agent_pid=$(pgrep -P "$time_pid" || true)
    [ -n "$agent_pid" ] && break
    sleep 0.05
  done
}
stop_agent() {
  kill -INT "$agent_pid" 2>/dev/null || true
  wait "$time_pid" || true
  agent_pid=
}
cpu_of() { awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.2f", u + s}' "$1"; }
rss_of() { awk -F': ' '/Maximum resident/ {print $2}' "$1"; }

files_config() { # path state_dir sinks_json logs_extra_json [summary_interval_s]
  cat <<JSON
{
  "agent": {"region": "us-east-1"},
  "logs": {$4"logs_collected": {"files": {"collect_list": [
    {"file_path": "$1", "log_group_name": "/bench/tail", "log_stream_name": "bench",
     "from_beginning": true}]}}},
  "osprey": {"state_dir": "$2", "summary_interval": ${5:-0.1}, "shutdown_deadline": 30,
             "sinks": $3}
}
JSON
}

# ---- 1. throughput to the null sink ------------------------------------------------------
if [ "$size_mib" != 0 ]; then
  echo "-- throughput: ${size_mib} MiB of ${line_bytes}-byte lines, from_beginning, null sink"
  lines=$(make_file "$work/big.log" "$size_mib")
  bytes=$(stat -c %s "$work/big.log")
  "$work/memchr" "$work/big.log" >/dev/null # warm the page cache
  t0=$(date +%s.%N)
  "$work/memchr" "$work/big.log" >/dev/null
  t1=$(date +%s.%N)
  base_s=$(echo "$t1 - $t0" | bc -l)
  # Summaries every 10 ms: the end of the run is read from them (below).
  files_config "$work/big.log" "$work/state1" '{"null": {}}' "" 0.01 >"$work/tail1.json"
  t0=$(date +%s.%N)
  start_agent "$work/tail1.json" "$work/agent1.log" "$work/time1.txt"
  while [ "$(null_count "$work/agent1.log")" != "$lines" ]; do
    kill -0 "$agent_pid" 2>/dev/null || { tail -20 "$work/agent1.log" >&2; exit 1; }
    sleep 0.05
  done
  # The end is the agent's own stamp on the first summary that counted every line (10 ms
  # resolution), not the moment this 50 ms poll noticed it: at the goal's speed a 1 GiB run
  # lasts about 0.3 s, so poll and summary latency would have been a large part of it.
  t1=$(date -d "$(grep -m1 "null=$lines\b" "$work/agent1.log" | cut -d' ' -f1)" +%s.%N)
  stop_agent
  osprey_s=$(echo "$t1 - $t0" | bc -l)
  mb=$(echo "$bytes / 1000000" | bc -l)
  printf 'baseline read+memchr: %.2f s, %.0f MB/s, %.0f lines/s\n' "$base_s" \
    "$(echo "$mb / $base_s" | bc -l)" "$(echo "$lines / $base_s" | bc -l)"
  printf 'osprey files->null:   %.2f s (start to last ack, incl. startup), %.0f MB/s, %.0f lines/s, cpu %s s, peak_rss_kib %s\n' \
    "$osprey_s" "$(echo "$mb / $osprey_s" | bc -l)" "$(echo "$lines / $osprey_s" | bc -l)" \
    "$(cpu_of "$work/time1.txt")" "$(rss_of "$work/time1.txt")"
  printf 'ratio osprey/baseline MB/s: %.3f (goal >= 0.5)\n' "$(echo "$base_s / $osprey_s" | bc -l)"
  rm -f "$work/big.log"
fi

# ---- 2. export to the compatible endpoint, gzip -------------------------------------------
if [ "$endpoint_mib" != 0 ]; then
  echo "-- export: ${endpoint_mib} MiB to the compatible endpoint (cloudwatch_logs, gzip)"
  lines=$(make_file "$work/exp.log" "$endpoint_mib")
  bytes=$(stat -c %s "$work/exp.log")
  /usr/bin/python3 tests/endpoint --port 0 --port-file "$work/port" >"$work/endpoint.log" 2>&1 &
  ep_pid=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
  port=$(cat "$work/port")
  files_config "$work/exp.log" "$work/state2" \
    "{\"cloudwatch_logs\": {\"endpoint\": \"http://127.0.0.1:$port\", \"force_flush_interval\": 1, \"gzip\": true}}" \
    "" >"$work/tail2.json"
  t0=$(date +%s.%N)
  start_agent "$work/tail2.json" "$work/agent2.log" "$work/time2.txt"
  count() {
    curl -s "http://127.0.0.1:$port/_control/logs" | /usr/bin/python3 -c '
import json, sys
print(sum(s["eventCount"] for g in json.load(sys.stdin)["log_groups"] for s in g["streams"]))'
  }
  while [ "$(count)" -lt "$lines" ]; do
    kill -0 "$agent_pid" 2>/dev/null || { tail -20 "$work/agent2.log" >&2; exit 1; }
    sleep 0.5
  done
  t1=$(date +%s.%N)
  stop_agent
  kill "$ep_pid" 2>/dev/null || true
  wait "$ep_pid" 2>/dev/null || true
  ep_pid=
  secs=$(echo "$t1 - $t0" | bc -l)
  mb=$(echo "$bytes / 1000000" | bc -l)
  cpu=$(cpu_of "$work/time2.txt")
  printf 'osprey files->endpoint (gzip): %.1f MB in %.1f s = %.2f MB/s, %.0f lines/s, cpu %s s = %.1f cpu s/GB, peak_rss_kib %s\n' \
    "$mb" "$secs" "$(echo "$mb / $secs" | bc -l)" "$(echo "$lines / $secs" | bc -l)" \
    "$cpu" "$(echo "$cpu / ($mb / 1000)" | bc -l)" "$(rss_of "$work/time2.txt")"
  rm -f "$work/exp.log"
fi

# ---- 3. live tail of a writer ---------------------------------------------------------
if [ "$live_seconds" != 0 ]; then
  echo "-- live: writer at ${live_rate} lines/s for ${live_seconds} s, null sink"
  : >"$work/live.log"
  files_config "$work/live.log" "$work/state3" '{"null": {}}' "" >"$work/tail3.json"
  start_agent "$work/tail3.json" "$work/agent3.log" "$work/time3.txt"
  sleep 1
  # The writer prints its start time (epoch s) first, then its report.
  /usr/bin/python3 - "$work/live.log" "$live_rate" "$live_seconds" "$line_bytes" \
    >"$work/writer.txt" <<'PY'
import os, sys, time
path, rate, seconds, size = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
pad = "p" * size
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
t0 = time.monotonic()
print("%.6f" % time.time(), flush=True)
seq = 0
while True:
    el = time.monotonic() - t0
    if el >= seconds:
        break
    due = int(el * rate) + 1
    if due > seq:
        os.write(fd, "".join(("L %09d " % i + pad)[:size - 1] + "\n"
                             for i in range(seq, due)).encode())
        seq = due
    else:
        time.sleep(0.002)
print(seq, "%.3f" % (time.monotonic() - t0), flush=True)
PY
  written=$(sed -n 2p "$work/writer.txt" | cut -d' ' -f1)
  wsecs=$(sed -n 2p "$work/writer.txt" | cut -d' ' -f2)
  for _ in $(seq 300); do
    [ "$(null_count "$work/agent3.log")" = "$written" ] && break
    sleep 0.1
  done
  stop_agent
  /usr/bin/python3 - "$work/agent3.log" "$(sed -n 1p "$work/writer.txt")" "$live_rate" \
    "$written" <<'PY'
import datetime, re, sys
log, t0, rate, written = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
lags = []
for line in open(log, errors="replace"):
    m = re.match(r"(\S+Z) info  summary .*null=(\d+)", line)
    if not m:
        continue
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    n = int(m.group(2))
    if n == 0 or t < t0:
        continue
    lags.append(t - (t0 + (n - 1) / rate))
    if n >= written:
        break
lags.sort()
pick = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))] if lags else float("nan")
print("end-to-end lag (write -> null sink) over %d samples: p50 %.3f s, p99 %.3f s, max %.3f s"
      % (len(lags), pick(0.5), pick(0.99), lags[-1] if lags else float("nan")))
PY
  cpu=$(cpu_of "$work/time3.txt")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time3.txt")
  wall_s=$(echo "$wall" | awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
  printf 'writer: %s lines in %s s; osprey cpu %s s over %.1f s wall = %.1f%% of one core, peak_rss_kib %s, delivered %s\n' \
    "$written" "$wsecs" "$cpu" "$wall_s" "$(echo "100 * $cpu / $wall_s" | bc -l)" \
    "$(rss_of "$work/time3.txt")" "$(null_count "$work/agent3.log")"
fi
