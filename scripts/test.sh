#!/usr/bin/env bash
# The whole test suite: installs what the tests need (idempotently), checks formatting and lints
# (cargo fmt --check, clippy with -D warnings over every target, the lint settings in the root
# Cargo.toml's [workspace.lints]), then runs every Rust test (unit, contract and end-to-end against
# a real S3-compatible server on 127.0.0.1) and the SAM template checks. Exit status non-zero on
# any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/install-tools.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if [ -x scripts/check-template.sh ]; then
  ./scripts/check-template.sh
fi
cargo test --workspace --all-targets --locked --no-fail-fast
cargo test --workspace --doc --locked --no-fail-fast

# --- fuzzing (ledger hardening, issue 11; fuzz/README.md) -------------------------------------
# Each cargo-fuzz target for a bounded time (CUSTODY_FUZZ_SECONDS, default 20); a crash fails the
# suite. cargo-fuzz is installed by install-tools.sh; its sanitizer flags are nightly options,
# which the machine's one (stable) toolchain accepts with RUSTC_BOOTSTRAP=1.
./scripts/install-tools.sh --fuzz
fuzz=(env RUSTC_BOOTSTRAP=1 "$PWD/.tools/cargo-fuzz/bin/cargo-fuzz")
for target in $("${fuzz[@]}" list); do
  echo "fuzzing $target for ${CUSTODY_FUZZ_SECONDS:-20} s"
  "${fuzz[@]}" run "$target" -- -max_total_time="${CUSTODY_FUZZ_SECONDS:-20}"
done
# --- end of fuzzing ------------------------------------------------------------------------------
