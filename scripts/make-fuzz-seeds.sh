#!/usr/bin/env bash
# Records real sessions between the test-fixture keys (both modes: send,
# and receive with acknowledgement) through cloak-tap, and splits them into
# seeds for the fuzz targets: whole client streams (frame), frame payloads
# (messages), and the sealed envelopes and stream heads inside (envelope).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --bins
BIN=$PWD/target/debug
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
cp tests/fixtures/python-keys/*.pem "$WORK/"
chmod 600 "$WORK"/*_private.pem
"$BIN/cloak-server" --keys "$WORK" --data "$WORK/data" --addr 127.0.0.1:0 >"$WORK/server.out" 2>/dev/null &
until grep -q '^listening on ' "$WORK/server.out" 2>/dev/null; do sleep 0.05; done
SERVER=$(sed -n 's/^listening on //p' "$WORK/server.out")
record() { # name, client args...
    local name=$1; shift
    "$BIN/cloak-tap" --to "$SERVER" --record "$WORK/$name.bin" --connections 1 >"$WORK/tap.out" &
    until grep -q '^listening on ' "$WORK/tap.out" 2>/dev/null; do sleep 0.05; done
    "$BIN/cloak-client" --keys "$WORK" --addr "$(sed -n 's/^listening on //p' "$WORK/tap.out")" "$@" >/dev/null
    wait $!
}
record send-asymmetric --mode asymmetric send_msg "a seed message"
record send-hybrid --mode hybrid send_msg "a seed message"
"$BIN/cloak-server" --keys "$WORK" --data "$WORK/data" post --to client "a queued seed" >/dev/null
record recv-hybrid --mode hybrid recv_msg
python3 - "$WORK" fuzz/seeds <<'PY'
import os, sys
work, out = sys.argv[1], sys.argv[2]
for target in ("frame", "messages", "envelope"):
    os.makedirs(os.path.join(out, target), exist_ok=True)
def varint(b, i):
    m = b[i]
    if m < 251: return m, i + 1
    size = {251: 2, 252: 4, 253: 8}[m]
    return int.from_bytes(b[i + 1:i + 1 + size], "big"), i + 1 + size
for name in sorted(f for f in os.listdir(work) if f.endswith(".bin")):
    stream = open(os.path.join(work, name), "rb").read()
    stem = name[:-4]
    open(os.path.join(out, "frame", stem), "wb").write(stream)
    i, n = 0, 0
    while i + 4 <= len(stream):
        size = int.from_bytes(stream[i:i + 4], "big")
        payload = stream[i + 4:i + 4 + size]
        i += 4 + size
        open(os.path.join(out, "messages", f"{stem}-{n}"), "wb").write(payload)
        variant = payload[2]
        if variant in (0, 3):  # Send { wrapped_key, proof, envelope } or SendStream { head, proof }
            start = 3
            for skipped in range(2 if variant == 0 else 0):
                length, start = varint(payload, start)
                start += length
            length, start = varint(payload, start)
            open(os.path.join(out, "envelope", f"{stem}-{n}"), "wb").write(payload[start:start + length])
        n += 1
PY
ls fuzz/seeds/*
