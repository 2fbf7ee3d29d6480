#!/usr/bin/env bash
# CloakRoom benchmark: one run prints, on this machine, for both crypto
# backends side by side (the default RustCrypto build and the
# `--features aws-lc` build, measured in turn within the same run):
#  1. a 1 GiB hybrid message end to end over loopback, the data folder on
#     tmpfs and on disk, in MB/s, with peak RSS of client and server, beside
#     `dd conv=fsync` of the same size into the same folder; and its
#     delivery (`post`, then `recv_msg --out` timed) on tmpfs;
#  2. 100-byte messages: throughput and p50/p99 latency with 1, 8 and 64
#     concurrent clients, in each mode, and the server's CPU per message;
#  3. references measured in the same run (openssl speed: RSA private-key
#     operations for the key size used, interleaved with ours; AES-256-GCM)
#     and our ratios to them;
#  4. `cloak-client send_msg "hi"` wall time, process start to exit;
#  5. hostile load (default build): the server's CPU time per
#     unauthenticated request for the worst requests `cloak-bench attack`
#     builds in each mode, as a ratio to an honest hybrid send's in the same
#     run; and an honest client's p50/p99 send latency unloaded and while
#     one other address floods the server;
#  6. the stores side by side: SQLite, and PostgreSQL with one and two
#     server instances (scripts/bench-stores.sh, which runs it alone too).
#
# Usage: scripts/bench.sh            (BENCH_MB=1024, BENCH_SECONDS=5, BENCH_REPEAT=3)
#        BENCH_MB=256 BENCH_SECONDS=2 BENCH_REPEAT=1 scripts/bench.sh   (a quicker run)
#        scripts/bench.sh hostile    (section 5 alone)
#        scripts/bench-stores.sh     (section 6 alone)
# BENCH_DISK_DIR chooses the on-disk folder (default: target/).
# BENCH_SERVER is the server binary section 5 measures (default: this
# tree's default release build), e.g. one built from an older commit; every
# client side, the bench included, stays this tree's.
# Section 5: BENCH_ATTACK_SECONDS (5) per attack that waits for its answers,
# BENCH_HANGUPS (20) requests per attack that hangs up, BENCH_FLOOD_SECONDS
# (10) of honest sends unloaded and again under each flood.
# Shared machines are noisy: each end-to-end figure (ours and dd's) is the
# best of BENCH_REPEAT runs, the backends and dd alternating; the RSA rates
# are medians of interleaved runs.
set -euo pipefail
cd "$(dirname "$0")/.."

ONLY=${1:-all}
case $ONLY in
    all | hostile) ;;
    *) echo "usage: $0 [hostile]" >&2; exit 2 ;;
esac

MB=${BENCH_MB:-1024}
SECONDS_EACH=${BENCH_SECONDS:-5}
REPEAT=${BENCH_REPEAT:-3}
BITS=3072
CORES=$(nproc)

for tool in openssl /usr/bin/time awk; do
    command -v "$tool" >/dev/null || { echo "bench needs $tool" >&2; exit 1; }
done

cargo build --release --bins --quiet
cargo build --release --bins --quiet --features cloak-core/aws-lc --target-dir target/aws-lc
BIN=$PWD/target/release
SERVER_BIN=${BENCH_SERVER:-$BIN/cloak-server}
# The two builds, by backend name.
BACKENDS=(rustcrypto aws-lc)
bin_of() { if [ "$1" = aws-lc ]; then echo "$PWD/target/aws-lc/release"; else echo "$BIN"; fi; }

TMPFS=$(mktemp -d -p /dev/shm cloak-bench.XXXXXX)
DISK=$(mktemp -d -p "${BENCH_DISK_DIR:-$PWD/target}" cloak-bench.XXXXXX)
SERVER=
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
    rm -rf "$TMPFS" "$DISK"
}
trap cleanup EXIT

KEYS=$TMPFS/keys
"$BIN/cloak-server" generate_key_pair --keys "$KEYS" --bits $BITS >/dev/null
"$BIN/cloak-client" generate_key_pair --keys "$KEYS" --bits $BITS >/dev/null
BYTES=$((MB * 1024 * 1024))

now() { date +%s.%N; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / s / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

start_server() { # data-dir [server binary]
    # The last server's output must not be read as this one's: the new
    # process truncates the file only once it runs.
    rm -f "$TMPFS/server.out"
    "${2:-$SERVER_BIN}" --keys "$KEYS" --data "$1" --addr 127.0.0.1:0 \
        --max-store-bytes $((BYTES * 4)) >"$TMPFS/server.out" 2>"$TMPFS/server.err" &
    SERVER=$!
    for _ in $(seq 600); do
        grep -q '^listening on ' "$TMPFS/server.out" 2>/dev/null && break
        sleep 0.05
    done
    ADDR=$(sed -n 's/^listening on //p' "$TMPFS/server.out")
    if [ -z "$ADDR" ]; then
        echo "the server did not start within 30 s; its stderr:" >&2
        tail -n 20 "$TMPFS/server.err" >&2
        exit 1
    fi
}
# A server still busy with a flood's backlog may take long to finish its
# work after SIGTERM; past a grace period it is killed.
stop_server() {
    kill -TERM "$SERVER"
    for _ in $(seq 150); do
        kill -0 "$SERVER" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true; SERVER=
}
server_rss_kb() { awk '/VmHWM/ { print $2 }' "/proc/$SERVER/status"; }
TICKS=$(getconf CLK_TCK)
server_cpu_s() { awk -v t="$TICKS" '{ print ($14 + $15) / t }' "/proc/$SERVER/stat"; }
# Bytes the server has passed to write(2) so far: the answers and log lines
# it writes for any request, and whatever it spools for one.
server_wchar() { awk '/^wchar:/ { print $2 }' "/proc/$SERVER/io"; }
field() { # name, line: the value after the field `name`
    echo "$2" | awk -v n="$1" '{ for (i = 1; i < NF; i++) if ($i == n) { print $(i + 1); exit } }'
}

# Section 5. The requests are described in `cloak-bench attack --help`.
# Each attack is one kind of request (with its options), sent one at a time:
# an attack that waits for its answers for BENCH_ATTACK_SECONDS, one that
# hangs up at once BENCH_HANGUPS times. `--trailing-bytes 65536` writes that
# much junk after the request before hanging up: a server that watches its
# peers leave only while little unread data waits then no longer notices.
ATTACKS=(
    "asym-random"
    "asym-random --hang-up"
    "asym-valid"
    "asym-valid --hang-up"
    "asym-valid --hang-up --trailing-bytes 65536"
    "asym-unknown"
    "asym-unknown --hang-up --trailing-bytes 65536"
    "hybrid-junk-key"
    "hybrid-junk-key --hang-up"
    "hybrid-real-key"
    "hybrid-real-key --size 16777216"
    "hybrid-unknown"
    "hybrid-unknown --size 16777216"
)
# The floods: the worst asymmetric request, from 64 connections at once,
# waiting for answers or hanging up as soon as each is out.
FLOODS=(
    "asym-valid"
    "asym-valid --hang-up --trailing-bytes 65536"
)
ATTACK_SECONDS=${BENCH_ATTACK_SECONDS:-5}
HANGUPS=${BENCH_HANGUPS:-20}
FLOOD_SECONDS=${BENCH_FLOOD_SECONDS:-10}

# The server's CPU time once it has gone idle: work for a peer that hung
# up may go on after the peer is gone (and on some servers always does),
# and it is part of what the request cost.
settled_cpu_s() {
    local before after
    before=$(server_cpu_s)
    for _ in $(seq 1200); do
        sleep 0.5
        after=$(server_cpu_s)
        awk -v a="$before" -v b="$after" 'BEGIN { exit !(b - a < 0.02) }' && break
        before=$after
    done
    echo "$after"
}

# Server CPU ms per honest 100-byte hybrid send from an authorized client,
# one client sending for 5 s.
honest_cpu_ms() {
    local cpu0 line
    cpu0=$(server_cpu_s)
    line=$("$BIN/cloak-bench" small --addr "$ADDR" --keys "$KEYS" --mode hybrid --clients 1 --seconds 5)
    awk -v a="$cpu0" -v b="$(settled_cpu_s)" -v m="$(field messages "$line")" \
        'BEGIN { printf "%.2f\n", (b - a) * 1000 / m }'
}

# One attack: its output line, then the server's CPU ms and the bytes it
# wrote, per request.
attack_cpu() { # kind and options
    local cpu0 wchar0 line count=1000000
    case " $* " in *" --hang-up "*) count=$HANGUPS ;; esac
    cpu0=$(server_cpu_s)
    wchar0=$(server_wchar)
    # shellcheck disable=SC2086 # the options are words
    line=$("$BIN/cloak-bench" attack --addr "$ADDR" --keys "$KEYS" --stranger "$STRANGER" \
        --kind $* --count "$count" --seconds "$ATTACK_SECONDS")
    echo "$line"
    awk -v a="$cpu0" -v b="$(settled_cpu_s)" -v w0="$wchar0" -v w1="$(server_wchar)" \
        -v n="$(field requests "$line")" \
        'BEGIN { printf "%.2f %.0f\n", (b - a) * 1000 / n, (w1 - w0) / n }'
}

# Other work on a small machine moves these figures a lot: say how busy it
# was.
load() { cut -d' ' -f1-3 /proc/loadavg; }

hostile_section() {
    echo "## 5. Hostile load, server $SERVER_BIN (load average $(load))"
    STRANGER=$TMPFS/stranger
    [ -d "$STRANGER" ] || "$BIN/cloak-client" generate_key_pair --keys "$STRANGER" --bits $BITS >/dev/null
    start_server "$TMPFS/hostile-data"
    local honest0 honest1 honest out per spec
    honest0=$(honest_cpu_ms)
    local -a rows=()
    for spec in "${ATTACKS[@]}"; do
        # shellcheck disable=SC2086
        out=$(attack_cpu $spec)
        read -r per written <<<"$(echo "$out" | tail -n 1)"
        echo "$(echo "$out" | head -n 1) server_cpu_ms_per_request $per server_bytes_written_per_request $written"
        rows+=("$spec|$(field requests "$(echo "$out" | head -n 1)")|$per|$written")
    done
    honest1=$(honest_cpu_ms)
    stop_server
    # The machine's speed drifts: the reference is the mean of an honest
    # run before and one after the attacks.
    honest=$(awk -v a="$honest0" -v b="$honest1" 'BEGIN { printf "%.2f", (a + b) / 2 }')
    echo "honest hybrid 100-byte send: $honest ms of server CPU (before the attacks $honest0, after $honest1); load average $(load)"
    echo
    printf '%-48s %8s %14s %10s %14s\n' "request (cloak-bench attack --kind ...)" requests "server CPU ms" "x honest" "bytes written"
    local row
    for row in "${rows[@]}"; do
        IFS='|' read -r spec n per written <<<"$row"
        printf '%-48s %8s %14s %10s %14s\n' "$spec" "$n" "$per" "$(ratio "$per" "$honest")" "$written"
    done
    echo "(bytes written: what the server passed to write(2) per request, its answer and log lines included)"

    echo
    echo "honest client from 127.0.0.1, flood from 127.0.0.2 (64 connections), ${FLOOD_SECONDS}s of sends per figure"
    local mode line
    local -a lines=()
    for spec in "${FLOODS[@]}"; do
        for mode in hybrid asymmetric; do
            # A fresh server each time: a flood may leave work behind.
            start_server "$TMPFS/hostile-data"
            # shellcheck disable=SC2086
            line=$("$BIN/cloak-bench" flood --addr "$ADDR" --keys "$KEYS" --stranger "$STRANGER" \
                --honest-keys "$KEYS" --honest-mode $mode --seconds "$FLOOD_SECONDS" --kind $spec)
            stop_server
            rm -rf "$TMPFS/hostile-data"
            echo "$line"
            lines+=("$spec|$line")
        done
    done
    echo
    printf '%-44s %-10s %17s %17s %13s %10s\n' "flood (--kind ...)" "honest" "unloaded p50/p99" "flood p50/p99" "ok/failed" "attacks/s"
    for row in "${lines[@]}"; do
        IFS='|' read -r spec line <<<"$row"
        printf '%-44s %-10s %17s %17s %13s %10s\n' "$spec" "$(field honest_mode "$line")" \
            "$(field unloaded_p50_ms "$line")/$(field unloaded_p99_ms "$line") ms" \
            "$(field flood_p50_ms "$line")/$(field flood_p99_ms "$line") ms" \
            "$(field flood_sends "$line")/$(field flood_failed "$line")" "$(field attack_per_sec "$line")"
    done
    echo "(load average at the end $(load))"
}

echo "# CloakRoom benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $CORES cores, RSA-$BITS keys"
echo "# cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
# The commit each side was built from, when its binary lies in a git tree.
commit_of() { git -C "$1" describe --always --dirty 2>/dev/null || echo unknown; }
echo "# commit: $(commit_of .); server: $SERVER_BIN, commit $(commit_of "$(dirname "$SERVER_BIN")")"
echo
if [ "$ONLY" = hostile ]; then
    hostile_section
    exit 0
fi
INPUT=$TMPFS/input.bin
head -c $BYTES /dev/urandom >"$INPUT"
best() { sort -g | tail -n 1; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
elapsed_mbps() { mbps $BYTES "$(awk -v a="$1" -v b="$2" 'BEGIN { print b - a }')"; }

# One send of the input on `backend`'s build into `dir`; prints MB/s and
# the peak RSS of client and server. On tmpfs it then posts the input to
# the client and times its delivery (`recv_msg --out`): a fourth field.
e2e_run() { # backend dir where
    local bin t0 t1 send rss_server rss_client deliver=-
    bin=$(bin_of "$1")
    start_server "$2/data" "$bin/cloak-server"
    t0=$(now)
    /usr/bin/time -f "%M" -o "$TMPFS/client.rss" \
        "$bin/cloak-client" --keys "$KEYS" --addr "$ADDR" send_msg --file "$INPUT" >/dev/null
    t1=$(now)
    send=$(elapsed_mbps "$t0" "$t1")
    rss_server=$(server_rss_kb); rss_client=$(cat "$TMPFS/client.rss")
    if [ "$3" = tmpfs ]; then
        "$bin/cloak-server" post --keys "$KEYS" --data "$2/data" --max-store-bytes $((BYTES * 4)) \
            --to client - <"$INPUT" >/dev/null
        t0=$(now)
        "$bin/cloak-client" --keys "$KEYS" --addr "$ADDR" recv_msg --out "$2/delivered.bin" >/dev/null
        t1=$(now)
        deliver=$(elapsed_mbps "$t0" "$t1")
        cmp -s "$INPUT" "$2/delivered.bin" || { echo "delivered bytes differ" >&2; exit 1; }
        rm -f "$2/delivered.bin"
    fi
    stop_server
    rm -rf "$2/data"
    echo "$send $rss_client $rss_server $deliver"
}

echo "## 1. ${MB} MiB hybrid message end to end (loopback), each backend's client and server"
for where in tmpfs disk; do
    dir=$TMPFS; [ $where = disk ] && dir=$DISK
    declare -A runs=() delivers=() rss=()
    dd_runs=()
    for _ in $(seq "$REPEAT"); do
        for backend in "${BACKENDS[@]}"; do
            read -r send rc rs deliver <<<"$(e2e_run "$backend" "$dir" $where)"
            runs[$backend]+="$send "; delivers[$backend]+="$deliver "
            rss[$backend]="client $rc KiB, server $rs KiB"
        done
        t0=$(now)
        dd if="$INPUT" of="$dir/dd.bin" bs=1M conv=fsync status=none
        t1=$(now)
        dd_runs+=("$(elapsed_mbps "$t0" "$t1")")
        rm -f "$dir/dd.bin"
    done
    dd_rate=$(printf '%s\n' "${dd_runs[@]}" | best)
    echo "$where dd conv=fsync $dd_rate MB/s (runs: ${dd_runs[*]})"
    for backend in "${BACKENDS[@]}"; do
        ours=$(echo "${runs[$backend]}" | tr ' ' '\n' | grep . | best)
        line="$where $backend send $ours MB/s (runs: ${runs[$backend]% }) = $(ratio "$ours" "$dd_rate") of dd"
        if [ $where = tmpfs ]; then
            deliver=$(echo "${delivers[$backend]}" | tr ' ' '\n' | grep . | best)
            line+="; delivery $deliver MB/s (runs: ${delivers[$backend]% }) = $(ratio "$deliver" "$ours") of the send"
            eval "DELIVER_${backend//-/_}=$deliver"
        fi
        echo "$line; peak RSS ${rss[$backend]}"
        eval "E2E_${where}_${backend//-/_}=$ours"
    done
done

echo
echo "## 2. 100-byte messages, ${SECONDS_EACH}s per run (clients on the same machine)"
# The clients share the cores with the server, so besides the throughput the
# server's own CPU time per message is measured: what the server would
# sustain with all cores to itself, and what the backend changes.
for backend in "${BACKENDS[@]}"; do
    bin=$(bin_of "$backend")
    start_server "$TMPFS/data" "$bin/cloak-server"
    for mode in asymmetric hybrid; do
        for clients in 1 8 64; do
            cpu0=$(server_cpu_s)
            line=$("$bin/cloak-bench" small --addr "$ADDR" --keys "$KEYS" --mode $mode \
                --clients $clients --seconds "$SECONDS_EACH")
            cpu=$(awk -v a="$cpu0" -v b="$(server_cpu_s)" 'BEGIN { print b - a }')
            per_msg=$(awk -v c="$cpu" -v m="$(field messages "$line")" 'BEGIN { printf "%.2f", c * 1000 / m }')
            echo "$backend $line server_cpu_ms_per_msg $per_msg"
            eval "SMALL_${backend//-/_}_${mode}_${clients}=$(field throughput_per_sec "$line")"
            eval "CPU_${backend//-/_}_${mode}_${clients}=$per_msg"
        done
    done
    stop_server
    rm -rf "$TMPFS/data"
done

echo
echo "## 3. References, same run"
# openssl and both backends in turn, three rounds, so a drift in the
# machine's speed reaches all of them; the medians are compared.
for round in 1 2 3; do
    openssl speed -seconds 2 rsa$BITS 2>/dev/null | awk -v b="rsa $BITS bits" '$0 ~ b { print $6; exit }' >>"$TMPFS/openssl-rsa.txt"
    "$(bin_of aws-lc)/cloak-bench" rsa --keys "$KEYS" --seconds 3 >>"$TMPFS/rsa.txt"
done
OPENSSL_RSA=$(median <"$TMPFS/openssl-rsa.txt")
rsa_median() { awk -v b="$1" '$1 == b && $4 == "open_hybrid_per_sec" { print $5 }' "$TMPFS/rsa.txt" | median; }
RSA_rustcrypto=$(rsa_median rustcrypto); RSA_aws_lc=$(rsa_median aws-lc)
OPENSSL_AES=$(openssl speed -seconds 3 -evp aes-256-gcm 2>/dev/null | awk '/^AES-256-GCM/ { sub("k", "", $7); print $7 * 1000 / 1e6 }')
echo "openssl rsa$BITS private ops/s (1 core), runs: $(tr '\n' ' ' <"$TMPFS/openssl-rsa.txt")median $OPENSSL_RSA"
grep open_hybrid_per_sec "$TMPFS/rsa.txt"
echo "open of a hybrid envelope per second (1 core, 1 private op each), medians: rustcrypto $RSA_rustcrypto, aws-lc $RSA_aws_lc"
echo "openssl AES-256-GCM MB/s (16 KiB blocks, 1 core): $OPENSSL_AES"
echo
echo "## Ratios"
for backend in "${BACKENDS[@]}"; do
    b=${backend//-/_}
    eval "rsa=\$RSA_$b e2e=\$E2E_tmpfs_$b deliver=\$DELIVER_$b cpu=\$CPU_${b}_hybrid_64 msgs=\$SMALL_${b}_hybrid_64"
    echo "$backend: private op rate / openssl $(ratio "$rsa" "$OPENSSL_RSA"); 1 GiB on tmpfs / openssl AES-256-GCM $(ratio "$e2e" "$OPENSSL_AES"); delivery / send $(ratio "$deliver" "$e2e"); hybrid, 64 clients: $msgs msg/s, $cpu ms of server CPU per message (the OAEP unwrap needs $(awk -v r="$rsa" 'BEGIN { printf "%.2f", 1000 / r }') ms)"
done
echo "aws-lc / rustcrypto server CPU per hybrid message (64 clients): $(ratio "$CPU_aws_lc_hybrid_64" "$CPU_rustcrypto_hybrid_64")"
echo "aws-lc / rustcrypto server CPU per asymmetric message (64 clients): $(ratio "$CPU_aws_lc_asymmetric_64" "$CPU_rustcrypto_asymmetric_64")"
echo
echo "## 4. cloak-client send_msg \"hi\", process start to exit (median of 20)"
start_server "$TMPFS/data"
for mode in asymmetric hybrid; do
    for _ in $(seq 20); do
        t0=$(now)
        "$BIN/cloak-client" --keys "$KEYS" --addr "$ADDR" --mode $mode send_msg hi >/dev/null
        t1=$(now)
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
    done | sort -n | awk -v m=$mode 'NR == 10 { a = $1 } NR == 11 { printf "%-10s %.3f s\n", m, (a + $1) / 2 }'
done
stop_server

echo
hostile_section

echo
scripts/bench-stores.sh
