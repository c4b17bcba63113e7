#!/usr/bin/env bash
# The one test command (README): unit, property, shard, integration and interop tests.
# Integration tests start the release `mayfly` binary on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins
cargo test --release --workspace
