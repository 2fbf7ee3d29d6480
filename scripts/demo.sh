#!/usr/bin/env bash
# CloakRoom end to end on this machine: build, create keys in ./keys if
# absent, start the server on a free loopback port (messages kept in ./data),
# send a message in each mode (the first one showing what an eavesdropper
# captures), queue a message for the client and receive it, list the
# server's inbox, stop the server, and show what each side printed.
set -euo pipefail
cd "$(dirname "$0")/.."

KEYS=${CLOAK_KEYS:-keys}
DATA=${CLOAK_DATA:-data}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Building"
cargo build --workspace --bins --quiet
BIN=target/debug

step "Keys in $KEYS/"
for side in server client; do
    if [ -f "$KEYS/${side}_private.pem" ]; then
        echo "$KEYS/${side}_private.pem exists: keeping it"
    else
        "$BIN/cloak-$side" generate_key_pair --keys "$KEYS"
    fi
done

step "Starting cloak-server"
LOG=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$LOG"' EXIT
"$BIN/cloak-server" --keys "$KEYS" --data "$DATA" --addr 127.0.0.1:0 >"$LOG/out" 2>"$LOG/err" &
SERVER=$!
for _ in $(seq 100); do
    grep -q '^listening on ' "$LOG/out" 2>/dev/null && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$LOG/err"; exit 1; }
    sleep 0.05
done
ADDR=$(sed -n 's/^listening on //p' "$LOG/out")
echo "listening on $ADDR"
client() { "$BIN/cloak-client" --keys "$KEYS" --addr "$ADDR" "$@"; }

step "cloak-client --mode asymmetric --show-wire send_msg (what an eavesdropper captures)"
client --mode asymmetric --show-wire send_msg "Meet me at the cloakroom at nine."

step "cloak-client --mode hybrid send_msg"
client --mode hybrid send_msg "Hybrid mode: AES-256-GCM under a fresh key, wrapped with RSA-OAEP."

operator() { "$BIN/cloak-server" --keys "$KEYS" --data "$DATA" "$@"; }

step "cloak-server post --to client (queue a message for the client)"
operator post --to client "Your coat is ready at the cloakroom."

step "cloak-client recv_msg (the queued message, verified, then acknowledged)"
client recv_msg

step "cloak-client recv_msg again (mailbox empty: the server's greeting)"
client recv_msg

step "cloak-server inbox (kept encrypted in $DATA/)"
operator inbox

step "Stopping the server (SIGTERM)"
kill -TERM "$SERVER"
wait "$SERVER" || true

step "What the server printed"
tail -n +2 "$LOG/out"
