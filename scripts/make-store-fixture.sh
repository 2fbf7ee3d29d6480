#!/usr/bin/env bash
# Writes tests/fixtures/store-v1/: a data folder written by a release that
# speaks protocol version 1 (before the sender proof), so the tests can
# check that this version reads what that one stored. The envelopes at rest
# did not change with the protocol; the test keeps that true.
#
# Usage: scripts/make-store-fixture.sh DIR
#   DIR holds that release's cloak-server and cloak-client, e.g. built with
#   git worktree add /tmp/v1 f647f3a && (cd /tmp/v1 && cargo build --bins)
set -euo pipefail
BIN=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
OUT=tests/fixtures/store-v1
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
cp tests/fixtures/python-keys/*.pem "$WORK/"
chmod 600 "$WORK"/*_private.pem
"$BIN/cloak-server" --keys "$WORK" --data "$WORK/data" --addr 127.0.0.1:0 >"$WORK/server.out" 2>/dev/null &
SERVER_PID=$!
until grep -q '^listening on ' "$WORK/server.out" 2>/dev/null; do sleep 0.05; done
ADDR=$(sed -n 's/^listening on //p' "$WORK/server.out")
send() { "$BIN/cloak-client" --keys "$WORK" --addr "$ADDR" "$@" >/dev/null; }
send --mode asymmetric send_msg "an asymmetric message stored by protocol version 1"
send --mode hybrid send_msg "a hybrid message stored by protocol version 1"
# Over 64 KiB: kept as a stream file in data/messages/.
python3 -c 'import sys; sys.stdout.write("a long message stored by protocol version 1\n" * 2000)' >"$WORK/long.txt"
send --mode hybrid send_msg --file "$WORK/long.txt"
"$BIN/cloak-server" --keys "$WORK" --data "$WORK/data" post --to client "queued by protocol version 1" >/dev/null
# A clean stop checkpoints the database into its main file.
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || true
rm -rf "$OUT"
mkdir -p "$OUT"
cp -r "$WORK/data/cloakroom.db" "$WORK/data/messages" "$OUT/"
ls -l "$OUT" "$OUT/messages"
