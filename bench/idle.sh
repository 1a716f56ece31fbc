#!/usr/bin/env bash
# Idle cost of `make run`'s configuration: CPU seconds and peak RSS over N seconds,
# measured with /usr/bin/time -v around the whole run (start-up and shutdown included).
#   bench/idle.sh [OSPREY_BINARY] [SECONDS]
set -euo pipefail
bin=$(realpath "${1:-build-bench/osprey}")
secs=${2:-60}
config=$(realpath packaging/examples/local.json)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
/usr/bin/time -v -o time.txt timeout -s INT "$secs" "$bin" --config "$config" 2>agent.log || true
user=$(awk -F': ' '/User time/ {print $2}' time.txt)
sys=$(awk -F': ' '/System time/ {print $2}' time.txt)
rss=$(awk -F': ' '/Maximum resident/ {print $2}' time.txt)
lines=$(wc -l < osprey-out/metrics.jsonl)
printf 'seconds=%s cpu_user_s=%s cpu_sys_s=%s cpu_total_s=%s cpu_percent_of_one_core=%s peak_rss_kib=%s metric_lines=%s\n' \
  "$secs" "$user" "$sys" "$(echo "$user + $sys" | bc -l)" \
  "$(echo "scale=4; 100 * ($user + $sys) / $secs" | bc -l)" "$rss" "$lines"
grep -q "stopped cleanly" agent.log || { echo "idle: agent did not stop cleanly" >&2; cat agent.log >&2; exit 1; }
