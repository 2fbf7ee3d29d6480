#!/usr/bin/env bash
# Rewrites the known-answer vectors in crates/cloak-core/tests/testdata/testkit/
# from their generator (crates/cloak-core/src/testkit/), then checks them.
# Review the diff before committing: a changed vector is a changed format.
#
# Usage: scripts/make-testkit.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CLOAK_WRITE_TESTKIT=1 cargo test -p cloak-core --lib -- \
    --ignored --exact testkit::tests::write_the_testkit
cargo test -p cloak-core --lib -- testkit::
cargo test -p cloak-core --test testkit
git status --short crates/cloak-core/tests/testdata/testkit/
