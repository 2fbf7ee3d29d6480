#!/usr/bin/env bash
# Mutation testing of the security-critical code: every check that decides
# whether a message, a proof or a key is trusted. Each mutant (a check made
# to return true, a comparison flipped, a field left out of a MAC) must
# make a test fail; docs/SECURITY.md lists the survivors and why each is
# harmless. Slow (about a mutant per half minute on two cores): not in CI.
#
# Usage: scripts/mutants.sh [extra cargo-mutants arguments]
# The report lands in target/mutants (mutants.out/{caught,missed,...}.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null 2>&1 || cargo install --locked cargo-mutants

out=target/mutants
mkdir -p "$out"
# Per mutant: a build, then this package's tests (a mutant that makes a
# test hang is a catch, by timeout).
common=(--no-shuffle --jobs 1 --timeout 120 --build-timeout 600 "$@")

# Core: the session proofs and receipt MAC, the sender proof, envelope
# signing and freshness, the asymmetric and stream openers. Their tests
# are the core's own.
# A missed mutant makes cargo-mutants exit 2: run both parts, then fail.
status=0
cargo mutants "${common[@]}" --output "$out/core" \
    --package cloak-core --test-package cloak-core \
    --file crates/cloak-core/src/session/proofs.rs \
    --file crates/cloak-core/src/session/sender_proof.rs \
    --file crates/cloak-core/src/kdf.rs \
    --file crates/cloak-core/src/envelope/signed.rs \
    --file crates/cloak-core/src/envelope/mod.rs \
    --file crates/cloak-core/src/envelope/asymmetric.rs \
    --file crates/cloak-core/src/envelope/stream.rs || status=$?

# Server: who is authorized, and the binding of stored messages to their
# place. Tested by the server's own tests.
cargo mutants "${common[@]}" --output "$out/server" \
    --package cloak-server --test-package cloak-server \
    --file crates/cloak-server/src/authorized.rs \
    --file crates/cloak-server/src/at_rest.rs || status=$?
exit "$status"
