#!/usr/bin/env bash
# Fails when two or more files of one crate import each other in a cycle
# (see import-cycles.rs for what counts as an import). Checks every crate's
# src folder and the end-to-end tests' support library.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/import-cycles
mkdir -p target
rustc --edition 2024 -O -o "$out" scripts/import-cycles.rs
"$out" crates/*/src tests/support
