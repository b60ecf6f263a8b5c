#!/usr/bin/env bash
# The test command: installs what the tests need (Postfix, Dovecot, Chromium from
# Debian's packages), then formatting, lints and every test. Works on a bare Debian 12 machine
# as root with no standard input (CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

bash scripts/install-test-deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked --all-targets

echo "test command finished in $(( $(date +%s) - started )) s"
