#!/usr/bin/env bash
# Runs each fuzz target for a bounded time (default 60 s each; FUZZ_SECONDS
# to change), seeded from fuzz/seeds/TARGET. Needs cargo-fuzz
# (`cargo install cargo-fuzz`); on a stable toolchain it builds without a
# sanitizer, so the targets cap their own memory (fuzz/src/lib.rs): an
# allocation past the cap is a crash. A crash is saved under
# fuzz/artifacts/TARGET: turn it into a regression test, then fix it.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_EACH=${FUZZ_SECONDS:-60}
# The byte-level targets take inputs as long as a frame may be
# (cloak_core::limits::MAX_FRAME_LEN: 16 MiB + 68 KiB). `structured` reads
# short descriptions, which stand for inputs of any size up to a frame.
FRAME_LEN=16846848
# `structured` mirrors the wire encoding: if the two drifted apart it would
# fuzz nothing but decoding errors, so its tests check the mirror first.
cargo test --lib --quiet
for target in frame messages envelope structured; do
    max_len=$FRAME_LEN
    [ "$target" = structured ] && max_len=4096
    dirs=("corpus/$target")
    [ -d "seeds/$target" ] && dirs+=("seeds/$target")
    mkdir -p "corpus/$target"
    echo "== fuzzing $target for ${SECONDS_EACH}s"
    RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" "${dirs[@]}" -- \
        -max_total_time="$SECONDS_EACH" -max_len="$max_len" -print_final_stats=1
done
