#!/usr/bin/env bash
# Sustained export of log events to the compatible endpoint (tests/endpoint), through the
# whole agent: generate collector -> ring -> cloudwatch_logs exporter (JSON, gzip, SigV4,
# curl) -> HTTP on loopback. Reports MB/s of log payload and Osprey's CPU seconds per GB
# of payload (the endpoint's own CPU is not counted; being Python and validating every
# request against the botocore model, it is usually the bottleneck, so MB/s here is a
# floor for Osprey, and CPU s/GB is the figure that describes Osprey).
#   bench/export_sustained.sh [OSPREY_BINARY] [EVENTS] [EVENT_BYTES]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-build-bench/osprey}")
events=${2:-500000}
size=${3:-200}
work=$(mktemp -d)
trap 'kill $ep_pid 2>/dev/null || true; rm -rf "$work"' EXIT

/usr/bin/python3 tests/endpoint --port 0 --port-file "$work/port" >"$work/endpoint.log" 2>&1 &
ep_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")

cat >"$work/osprey.json" <<JSON
{
  "agent": {"region": "us-east-1"},
  "osprey": {
    "summary_interval": 0,
    "shutdown_deadline": 60,
    "generate": [{"kind": "logs", "count": $events, "size": $size,
                  "log_group_name": "/bench/sustained", "log_stream_name": "bench"}],
    "sinks": {"cloudwatch_logs": {"endpoint": "http://127.0.0.1:$port",
                                   "force_flush_interval": 1}}
  }
}
JSON

export AWS_ACCESS_KEY_ID=AKIDEXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_EC2_METADATA_DISABLED=true
start=$(date +%s.%N)
/usr/bin/time -v -o "$work/time.txt" "$bin" --config "$work/osprey.json" 2>"$work/agent.log" &
agent_pid=$!
until grep -q "records acknowledged" "$work/agent.log" 2>/dev/null; do
  kill -0 $agent_pid 2>/dev/null || { cat "$work/agent.log" >&2; exit 1; }
  sleep 0.2
done
end=$(date +%s.%N)
pkill -INT -f "$work/osprey.json" || true
wait $agent_pid || true

user=$(awk -F': ' '/User time/ {print $2}' "$work/time.txt")
sys=$(awk -F': ' '/System time/ {print $2}' "$work/time.txt")
rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$work/time.txt")
mb=$(echo "$events * $size / 1000000" | bc -l)
secs=$(echo "$end - $start" | bc -l)
grep "records acknowledged" "$work/agent.log" | sed 's/^.*generate/generate/'
printf 'payload_mb=%.1f seconds=%.2f mb_per_s=%.2f osprey_cpu_s=%.2f cpu_s_per_gb=%.1f peak_rss_kib=%s\n' \
  "$mb" "$secs" "$(echo "$mb / $secs" | bc -l)" "$(echo "$user + $sys" | bc -l)" \
  "$(echo "($user + $sys) / ($mb / 1000)" | bc -l)" "$rss"
