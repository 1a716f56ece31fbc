#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it:
#   1. formatting check
#   2. ASan+UBSan build, every ctest (unit, fuzz corpus replay, integration, concurrency)
#   3. TSan build, the concurrency and integration tests (the ring and the two loops)
# Exits non-zero on the first failing stage; ctest prints its own summary lines.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "== format"
./scripts/check-format.sh

echo "== npm clients (tests/npm, from the committed lock file)"
./scripts/npm-clients.sh

echo "== ASan+UBSan build"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DOSPREY_SANITIZE='address;undefined' \
  -DOSPREY_WERROR=ON >/dev/null
cmake --build build-asan -j "$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j "$jobs")

echo "== TSan build"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOSPREY_SANITIZE=thread \
  -DOSPREY_WERROR=ON >/dev/null
cmake --build build-tsan -j "$jobs"
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
(cd build-tsan && ctest --output-on-failure -j "$jobs" -L 'concurrency|integration')
