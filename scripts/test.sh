#!/usr/bin/env bash
# The whole test suite: installs what the tests need (idempotently), then runs every Rust test
# (unit, contract and end-to-end against a real S3-compatible server on 127.0.0.1) and the SAM
# template checks. Exit status non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/install-tools.sh
if [ -x scripts/check-template.sh ]; then
  ./scripts/check-template.sh
fi
cargo test --workspace --all-targets --locked --no-fail-fast
cargo test --workspace --doc --locked --no-fail-fast
