#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds kexue's tests and examples in build/ (Release) and runs them all with CTest.
#
#   bash tools/run_tests.sh [extra CMake options, e.g. -DKEXUE_SANITIZE=ON]
#
# Works from any directory. Installs the Debian packages it needs when they are missing (apt-get, through
# sudo when not root). Environment: KEXUE_BUILD_DIR (default build), KEXUE_JOBS (default 2).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_dir=${KEXUE_BUILD_DIR:-build}
jobs=${KEXUE_JOBS:-2}

run() {
  echo "+ $*"
  "$@"
}

# ensure_packages PKG...: apt-get installs those of PKG that dpkg does not report as installed.
ensure_packages() {
  if ! command -v dpkg >/dev/null 2>&1; then
    echo "==> no dpkg: not a Debian system, assuming these are installed: $*"
    return 0
  fi
  local missing=() p
  for p in "$@"; do
    dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "==> Debian packages present: $*"
    return 0
  fi
  echo "==> installing missing Debian packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "error: not root and no sudo; install: ${missing[*]}" >&2; return 1; }
    if [ -t 0 ]; then sudo=(sudo); else sudo=(sudo -n); fi
  fi
  run "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  run "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

echo "==> kexue tests in $(pwd)/${build_dir}"
ensure_packages build-essential cmake libeigen3-dev libxsimd-dev doctest-dev python3

echo "==> configure"
run cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
  -DKEXUE_BUILD_TESTS=ON -DKEXUE_BUILD_EXAMPLES=ON -DKEXUE_BUILD_BENCH=OFF "$@"
echo "==> build"
run cmake --build "$build_dir" -j"$jobs"
echo "==> test"
run ctest --test-dir "$build_dir" --output-on-failure -j"$jobs"
