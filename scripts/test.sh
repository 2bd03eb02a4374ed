#!/usr/bin/env bash
# The full test suite: the README's test command, and what .ci/run calls.
# Privileged sensor tests need root; as a normal user they skip loudly,
# unless SAKER_REQUIRE_PRIVILEGED=1 (then a skip is a failure).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --workspace --all-targets
cargo test --workspace -- --test-threads=4
