#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds and runs the main demo, examples/quickstart (target example_quickstart), passing its arguments:
#
#   bash tools/run_demo.sh            # smoke size, a few seconds
#   bash tools/run_demo.sh --full     # the full run that reproduces the claim
#
# Works from any directory; the demo runs in the directory you call it from, so relative paths in its
# arguments mean what you expect. Installs missing Debian packages like tools/run_tests.sh, and shares
# its build/ directory and configuration. Environment: KEXUE_BUILD_DIR (default build), KEXUE_JOBS (2).
set -euo pipefail

caller_dir=$(pwd)
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo_dir=$(pwd)
build_dir=${KEXUE_BUILD_DIR:-build}
jobs=${KEXUE_JOBS:-2}
target=example_quickstart

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

echo "==> kexue demo: ${target} (build directory ${build_dir} in ${repo_dir})"
ensure_packages build-essential cmake libeigen3-dev libxsimd-dev doctest-dev python3

if [ ! -f examples/quickstart/main.cpp ]; then
  echo "error: examples/quickstart/main.cpp does not exist yet" >&2
  exit 1
fi

echo "==> configure"
# Same configuration as tools/run_tests.sh, so the two scripts share build/ without reconfiguring it.
run cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
  -DKEXUE_BUILD_TESTS=ON -DKEXUE_BUILD_EXAMPLES=ON -DKEXUE_BUILD_BENCH=OFF
echo "==> build ${target}"
run cmake --build "$build_dir" --target "$target" -j"$jobs"

case "$build_dir" in
  /*) exe="${build_dir}/examples/${target}" ;;
  *) exe="${repo_dir}/${build_dir}/examples/${target}" ;;
esac
echo "==> run (in ${caller_dir})"
cd "$caller_dir"
run "$exe" "$@"
