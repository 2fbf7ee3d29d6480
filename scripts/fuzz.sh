#!/usr/bin/env bash
# Runs each fuzz target for a bounded time (default 60 s each; FUZZ_SECONDS
# to change), seeded from fuzz/seeds/TARGET. Needs cargo-fuzz
# (`cargo install cargo-fuzz`); on a stable toolchain it builds without a
# sanitizer. A crash is saved under fuzz/artifacts/TARGET: turn it into a
# regression test, then fix it.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_EACH=${FUZZ_SECONDS:-60}
for target in frame messages envelope; do
    mkdir -p "corpus/$target"
    echo "== fuzzing $target for ${SECONDS_EACH}s"
    RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$SECONDS_EACH" -max_len=70000 -print_final_stats=1
done
