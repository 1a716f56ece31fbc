#!/usr/bin/env bash
# Idle footprint with the CloudWatch agent's "Standard" metric set
# (packaging/examples/cwagent-standard.json: cpu per core, disk, diskio, mem, netstat, swap)
# at a 60 s and a 1 s interval, against collectd (Debian's collectd-core) collecting the same
# set (cpu, df, disk, memory, tcpconns, swap) into CSV files in the same run.
# Osprey writes to its file sink: neither side talks to the network.
#   bench/idle_cwagent.sh [OSPREY_BINARY] [SECONDS]
# Prints, per interval: CPU seconds per hour (user+sys, extrapolated from the run) and peak
# RSS for both, and Osprey's figures as a ratio of collectd's.
set -euo pipefail
bin=$(realpath "${1:-build-bench/osprey}")
secs=${2:-60}
src=$(realpath "$(dirname "$0")/..")
collectd_bin=$(command -v collectd || echo /usr/sbin/collectd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

measure() { # name, command... -> "cpu_s rss_kib"
  local name=$1; shift
  /usr/bin/time -v -o "$work/$name.time" timeout -s INT "$secs" "$@" >"$work/$name.log" 2>&1 || true
  local user sys rss
  user=$(awk -F': ' '/User time/ {print $2}' "$work/$name.time")
  sys=$(awk -F': ' '/System time/ {print $2}' "$work/$name.time")
  rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$work/$name.time")
  echo "$(echo "$user + $sys" | bc -l) $rss"
}

for interval in 60 1; do
  /usr/bin/python3 - "$src/packaging/examples/cwagent-standard.json" "$work/osprey-$interval.json" \
    "$interval" "$work/out-$interval" <<'PY'
import json, sys
src, dst, interval, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
doc = json.load(open(src))
doc["agent"]["metrics_collection_interval"] = interval
doc["metrics"].pop("append_dimensions")  # no instance metadata here: measure collection only
doc["osprey"] = {"state_dir": out + "/state", "summary_interval": 0,
                 "sinks": {"file": {"directory": out}}}
json.dump(doc, open(dst, "w"), indent=2)
PY
  cat >"$work/collectd-$interval.conf" <<CONF
Interval $interval
BaseDir "$work/collectd-$interval"
PIDFile "$work/collectd-$interval.pid"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
FQDNLookup false
LoadPlugin cpu
LoadPlugin df
LoadPlugin disk
LoadPlugin memory
LoadPlugin swap
LoadPlugin tcpconns
LoadPlugin csv
<Plugin cpu>
  ReportByCpu true
  ValuesPercentage true
</Plugin>
<Plugin df>
  ReportInodes true
  ValuesPercentage true
</Plugin>
<Plugin swap>
  ValuesPercentage true
</Plugin>
<Plugin tcpconns>
  ListeningPorts false
  AllPortsSummary true
</Plugin>
<Plugin csv>
  DataDir "$work/collectd-$interval/csv"
</Plugin>
CONF
  mkdir -p "$work/collectd-$interval" "$work/out-$interval"
  read -r o_cpu o_rss < <(measure "osprey-$interval" "$bin" --config "$work/osprey-$interval.json")
  read -r c_cpu c_rss < <(measure "collectd-$interval" "$collectd_bin" -f -C "$work/collectd-$interval.conf")
  grep -q "stopped cleanly" "$work/osprey-$interval.log" || {
    echo "idle_cwagent: osprey did not stop cleanly" >&2; cat "$work/osprey-$interval.log" >&2; exit 1; }
  lines=$(cat "$work/out-$interval/metrics.jsonl" 2>/dev/null | wc -l)
  printf 'interval=%ss seconds=%s osprey_cpu_s_per_hour=%.2f osprey_peak_rss_kib=%s osprey_metric_lines=%s collectd_cpu_s_per_hour=%.2f collectd_peak_rss_kib=%s cpu_ratio=%s rss_ratio=%s\n' \
    "$interval" "$secs" "$(echo "$o_cpu * 3600 / $secs" | bc -l)" "$o_rss" "$lines" \
    "$(echo "$c_cpu * 3600 / $secs" | bc -l)" "$c_rss" \
    "$(if [ "$(echo "$c_cpu > 0" | bc)" = 1 ]; then echo "scale=2; $o_cpu / $c_cpu" | bc -l; else echo n/a; fi)" \
    "$(echo "scale=2; $o_rss / $c_rss" | bc -l)"
done
