#!/bin/sh
# Container entrypoint: pick the configuration, then exec osprey (PID 1 gets the signals).
#   OSPREY_CONFIG_CONTENT  the whole JSON configuration in a variable (like the CloudWatch
#                          agent's CW_CONFIG_CONTENT); written to a file osprey then reads.
#   OSPREY_CONFIG          path of a mounted configuration (default /etc/osprey/osprey.json).
#   OSPREY_BIN             the binary (default /usr/bin/osprey; the tests point it at a build).
# A first argument --dry-run or --check-config runs that instead of the agent; other
# arguments go to osprey after --config FILE. Without a configuration it exits 1.
set -eu

config="${OSPREY_CONFIG:-/etc/osprey/osprey.json}"
bin="${OSPREY_BIN:-/usr/bin/osprey}"

if [ -n "${OSPREY_CONFIG_CONTENT:-}" ]; then
  # Prefer the standard path when it is writable (an emptyDir or a writable layer), else
  # a private temporary file; either way only this user can read it.
  if [ -w "$(dirname "$config")" ] && { [ ! -e "$config" ] || [ -w "$config" ]; }; then
    target="$config"
  else
    target="$(mktemp "${TMPDIR:-/tmp}/osprey.XXXXXX.json")"
  fi
  umask 077
  printf '%s\n' "$OSPREY_CONFIG_CONTENT" >"$target"
  config="$target"
elif [ ! -r "$config" ]; then
  echo "osprey-entrypoint: no configuration: mount one at $config or set OSPREY_CONFIG_CONTENT" >&2
  exit 1
fi

if [ "${1:-}" = "--dry-run" ] || [ "${1:-}" = "--check-config" ]; then
  mode="$1"
  shift
  if [ "$mode" = "--check-config" ]; then
    exec "$bin" --check-config "$config" "$@"
  fi
  exec "$bin" --dry-run --config "$config" "$@"
fi
exec "$bin" --config "$config" "$@"
