#!/usr/bin/env bash
# The stores side by side (section 6 of scripts/bench.sh, or alone): on
# this machine, in one run, the embedded SQLite store (one instance: a data
# folder is one server's) against PostgreSQL with one and with two server
# instances on the same database:
#  - 100-byte hybrid messages from 64 concurrent clients (spread over the
#    instances), messages per second;
#  - a BENCH_MB MiB hybrid stream per instance at once, MB/s in all.
# The data folder and the throwaway PostgreSQL cluster are both on disk, in
# the same folder (BENCH_DISK_DIR, default target/), with PostgreSQL's
# durable defaults (fsync, synchronous_commit on). The servers are the
# aws-lc build, whose cheaper RSA leaves more of each message to the store.
#
# Usage: scripts/bench-stores.sh   (BENCH_MB=1024, BENCH_SECONDS=5)
set -euo pipefail
cd "$(dirname "$0")/.."

MB=${BENCH_MB:-1024}
SECONDS_EACH=${BENCH_SECONDS:-5}
BYTES=$((MB * 1024 * 1024))
BIN=$PWD/target/aws-lc/release
cargo build --release --bins --quiet --features cloak-core/aws-lc --target-dir target/aws-lc

pg_bindir() {
    local initdb
    initdb=$(command -v initdb || ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
    [ -n "$initdb" ] || { echo "bench-stores needs the PostgreSQL server binaries (Debian: postgresql)" >&2; exit 1; }
    dirname "$(readlink -f "$initdb")"
}
PG=$(pg_bindir)

WORK=$(mktemp -d -p "${BENCH_DISK_DIR:-$PWD/target}" cloak-stores.XXXXXX)
PIDS=()
# initdb refuses to run as root: the cluster then belongs to `postgres`.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    as_pg "$PG/pg_ctl" -D "$WORK/pg/data" stop -m immediate >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/pg"
if [ "$(id -u)" = 0 ]; then
    # The cluster's own folder is private to `postgres`, which only needs
    # to pass through ours.
    chmod 0711 "$WORK"
    chown postgres "$WORK/pg"
fi
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$PG/initdb" -D "$WORK/pg/data" -U cloak --auth=trust >/dev/null
as_pg "$PG/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w start \
    -o "-p $PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c shared_buffers=256MB" >/dev/null
psql_do() { PGOPTIONS="-c client_min_messages=warning" "$PG/psql" -X -q -h 127.0.0.1 -p "$PORT" -U cloak -d postgres -c "$1" >/dev/null; }
URL="postgres://cloak@127.0.0.1:$PORT/msgs"

KEYS=$WORK/keys
"$BIN/cloak-server" generate_key_pair --keys "$KEYS" --bits 3072 >/dev/null
"$BIN/cloak-client" generate_key_pair --keys "$KEYS" --bits 3072 >/dev/null
INPUT=$WORK/input.bin
head -c "$BYTES" /dev/urandom >"$INPUT"

ADDRS=()
start_instance() { # store options
    local out=$WORK/server.${#PIDS[@]}.out
    "$BIN/cloak-server" --keys "$KEYS" --addr 127.0.0.1:0 --max-store-bytes $((BYTES * 8)) \
        --hide-text "$@" >"$out" 2>"$out.err" &
    PIDS+=($!)
    for _ in $(seq 600); do
        grep -q '^listening on ' "$out" 2>/dev/null && break
        sleep 0.05
    done
    local addr
    addr=$(sed -n 's/^listening on //p' "$out")
    [ -n "$addr" ] || { echo "a server did not start; its stderr:" >&2; cat "$out.err" >&2; exit 1; }
    ADDRS+=("$addr")
}
stop_instances() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; done
    PIDS=(); ADDRS=()
}
# A fresh store for each row, so that none starts fuller than another.
fresh() { # sqlite | postgres
    rm -rf "$WORK/data"
    psql_do "DROP DATABASE IF EXISTS msgs"
    psql_do "CREATE DATABASE msgs"
}

# 64 clients in all, spread over the instances; messages per second in all.
small_rate() {
    local each=$((64 / ${#ADDRS[@]})) addr
    for addr in "${ADDRS[@]}"; do
        "$BIN/cloak-bench" small --addr "$addr" --keys "$KEYS" --mode hybrid \
            --clients $each --seconds "$SECONDS_EACH" >"$WORK/small.$addr.txt" &
    done
    wait
    cat "$WORK"/small.*.txt | awk '{ for (i = 1; i < NF; i++) if ($i == "throughput_per_sec") s += $(i + 1) } END { printf "%.0f", s }'
    rm -f "$WORK"/small.*.txt
}

# One stream per instance at once; MB/s in all.
stream_rate() {
    local t0 t1 addr
    t0=$(date +%s.%N)
    for addr in "${ADDRS[@]}"; do
        "$BIN/cloak-client" --keys "$KEYS" --addr "$addr" send_msg --file "$INPUT" >/dev/null &
    done
    wait
    t1=$(date +%s.%N)
    awk -v n=${#ADDRS[@]} -v b="$BYTES" -v a="$t0" -v z="$t1" 'BEGIN { printf "%.0f", n * b / (z - a) / 1e6 }'
}

row() { # label, then the instances' store options
    local label=$1
    shift
    fresh
    for opts in "$@"; do
        # shellcheck disable=SC2086 # the options are words
        start_instance $opts
    done
    local small stream
    small=$(small_rate)
    stream=$(stream_rate)
    stop_instances
    echo "$label $small $stream"
}

echo "## 6. Stores side by side (aws-lc build, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
read -r _ sq_small sq_stream <<<"$(row sqlite "--data $WORK/data")"
read -r _ pg1_small pg1_stream <<<"$(row pg1 "--store $URL")"
read -r _ pg2_small pg2_stream <<<"$(row pg2 "--store $URL" "--store $URL")"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-28s %22s %26s\n' store "hybrid 100 B, msg/s" "${MB} MiB stream(s), MB/s"
printf '%-28s %22s %26s\n' "SQLite, 1 instance" "$sq_small" "$sq_stream"
printf '%-28s %22s %26s\n' "PostgreSQL, 1 instance" "$pg1_small ($(ratio "$pg1_small" "$sq_small") of SQLite)" "$pg1_stream ($(ratio "$pg1_stream" "$sq_stream"))"
printf '%-28s %22s %26s\n' "PostgreSQL, 2 instances" "$pg2_small ($(ratio "$pg2_small" "$sq_small"))" "$pg2_stream ($(ratio "$pg2_stream" "$sq_stream"))"
