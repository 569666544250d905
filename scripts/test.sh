#!/usr/bin/env bash
# Runs every test: formatting, lints, unit, integration and end-to-end suites (the latter
# need root: real sshd, ssh, sudo and pamtester on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
cargo fmt --all --check
cargo clippy --workspace --all-targets --release -- -D warnings
cargo build --release --workspace
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --release --workspace --no-fail-fast
else
  cargo test --release --workspace --no-fail-fast
fi
