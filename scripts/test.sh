#!/usr/bin/env bash
# Runs every Starling test from a fresh clone: installs dependencies, builds everything with GCC
# as a packager would (no preset: CMake's default generator, Unix Makefiles, Release, warnings
# as errors) and runs every test label in that build (unit, sim, vectors, integration, interop,
# netns), then builds the fuzz preset (Clang, ASan + UBSan) and runs the unit, sim and
# integration tests under the sanitizers plus a short libFuzzer smoke run of every fuzz target.
# Usage: scripts/test.sh            (everything)
#        STARLING_SKIP_FUZZ=1 scripts/test.sh   (skip the fuzz preset)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

scripts/install-deps.sh
# First, as it takes seconds: every tracked C++ file must follow .clang-format.
scripts/check-format.sh
if [[ -f tests/interop/package.json ]]; then
  # The registry can time out now and then: use the local cache first and retry.
  for attempt in 1 2 3 4; do
    if (cd tests/interop && npm ci --prefer-offline --no-audit --no-fund --loglevel=error); then
      break
    fi
    if ((attempt == 4)); then
      echo "npm ci failed 4 times: the js-libp2p interop peer cannot be installed" >&2
      exit 1
    fi
    echo "npm ci failed (attempt $attempt); retrying in $((attempt * 10)) s" >&2
    sleep $((attempt * 10))
  done
fi

jobs=$(nproc)
# The GCC build is the packager's: the presets all use Ninja and the dev preset adds debug
# information, which costs a quarter of the compile time and no test needs. Building it this
# way keeps the build without presets working, and builds the code once, not twice.
echo "== GCC build (no preset: Unix Makefiles, Release, -Werror) =="
plain=build/plain
cmake -S . -B "$plain" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_COMPILE_WARNING_AS_ERROR=ON -DSTARLING_WERROR=ON >/dev/null
cmake --build "$plain" -j "$jobs"

echo "== tests (GCC build) =="
ctest --test-dir "$plain" -j "$jobs" --timeout 600 --output-on-failure

if [[ -z ${STARLING_SKIP_FUZZ:-} ]]; then
  echo "== sanitizer + fuzz build (Clang, ASan+UBSan, libFuzzer) =="
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz -j "$jobs"
  echo "== unit and integration tests under ASan+UBSan, fuzz smoke runs =="
  ctest --preset fuzz -j "$jobs" --timeout 600
fi

echo "== all tests passed in $(( $(date +%s) - start )) s =="
