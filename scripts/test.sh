#!/usr/bin/env bash
# Builds Strata twice and runs the whole test suite under ctest in both:
#   build/release  optimised, warnings as errors, benchmarks compiled
#                  (their short runs are tests too)
#   build/asan     AddressSanitizer + UndefinedBehaviorSanitizer
# Installs missing Debian packages first (scripts/install-deps.sh).
# Usage: scripts/test.sh [release|asan]   (default: both)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/install-deps.sh"

jobs=$(nproc)
if [[ $# -eq 0 ]]; then
  set -- release asan
fi

for variant in "$@"; do
  case $variant in
    release) flags=(-DCMAKE_BUILD_TYPE=Release -DSTRATA_BENCH=ON
                    -DSTRATA_GRPC_BENCH=ON) ;;
    asan) flags=(-DCMAKE_BUILD_TYPE=Debug -DSTRATA_SANITIZE=ON) ;;
    *) echo "test.sh: unknown variant '$variant'; use release or asan" >&2
       exit 2 ;;
  esac
  echo "== $variant build"
  cmake -S . -B "build/$variant" -DSTRATA_WERROR=ON "${flags[@]}" >/dev/null
  cmake --build "build/$variant" -j "$jobs"
  echo "== $variant tests"
  # halt_on_error makes any sanitizer report fail the test that caused it.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    ctest --test-dir "build/$variant" --output-on-failure -j "$jobs"
done
