#!/usr/bin/env bash
# Installs every build and test dependency of Osprey from Debian's packages.
# Idempotent: when everything is present it only runs dpkg-query and exits.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev libfuzzer-14-dev
  libuv1-dev libcurl4-openssl-dev libssl-dev zlib1g-dev
  libprotobuf-c-dev protobuf-c-compiler libjansson-dev libpcre2-dev libcmocka-dev
  python3 python3-botocore logrotate time bc curl ca-certificates nodejs collectd-core
  python3-yaml shellcheck
  dpkg-dev
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done
# Debian's nodejs comes without npm (package npm); other builds of the nodejs package
# (NodeSource) carry npm themselves and conflict with Debian's npm package.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup: need root or sudo to install packages" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
