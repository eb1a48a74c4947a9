#!/usr/bin/env bash
# Manage a local dynalite server: a second DynamoDB implementation (Node,
# on LevelDB's in-memory store) that affine-db's DynamoDB tests also run on.
# What dynalite lacks (the TTL API) is answered by the shim in
# testkit/src/dynalite.rs, which the tests put in front of this server when
# AFFINE_TEST_DYNAMODB_IMPL=dynalite.
#
# Usage:
#   scripts/dynalite.sh install   # npm ci the pinned dynalite (scripts/dynalite/package-lock.json)
#   scripts/dynalite.sh start     # start on a free 127.0.0.1 port, print endpoint URL
#   scripts/dynalite.sh stop      # stop the server started by `start` (no-op if not running)
#   scripts/dynalite.sh status    # print endpoint URL if running, exit 1 otherwise
#
# Environment:
#   DYNALITE_DIR   install location (default: $REPO/target/dynalite)
#   DYNALITE_NODE  node binary (default: node)
#
# Files (under $REPO/target): dynalite.log, dynalite.pid, dynalite.port
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
TARGET="$REPO/target"
PKG="$SCRIPT_DIR/dynalite"
DIR="${DYNALITE_DIR:-$TARGET/dynalite}"
NODE="${DYNALITE_NODE:-node}"
MARKER="$DIR/.lock-sha"
LOG="$TARGET/dynalite.log"
PIDFILE="$TARGET/dynalite.pid"
PORTFILE="$TARGET/dynalite.port"
HOST="127.0.0.1"
START_TIMEOUT=30
NAME="dynalite.sh"
ADDR_IN_USE="EADDRINUSE"
# shellcheck source=scripts/lib/emulator.sh
source "$SCRIPT_DIR/lib/emulator.sh"

lock_sha() { sha256sum "$PKG/package-lock.json" | cut -d' ' -f1; }

cmd_install() {
    command -v "$NODE" >/dev/null 2>&1 || die "node not found (apt-get install nodejs npm)"
    command -v npm >/dev/null 2>&1 || die "npm not found (apt-get install npm)"
    if [[ -f "$DIR/node_modules/dynalite/cli.js" && -f "$MARKER" && "$(cat "$MARKER")" == "$(lock_sha)" ]]; then
        return 0
    fi
    rm -rf "$DIR"
    mkdir -p "$DIR"
    cp "$PKG/package.json" "$PKG/package-lock.json" "$DIR/"
    local out
    out="$(mktemp)"
    # The in-memory store needs no native module, so no install scripts run.
    if ! npm ci --prefix "$DIR" --ignore-scripts --no-audit --no-fund >"$out" 2>&1; then
        cat "$out" >&2; rm -f "$out"
        rm -rf "$DIR"
        die "npm ci of $PKG/package-lock.json failed"
    fi
    rm -f "$out"
    lock_sha >"$MARKER"
    echo "dynalite.sh: installed dynalite $(cd "$DIR" && "$NODE" -p 'require("dynalite/package.json").version') into $DIR" >&2
}

free_port() {
    "$NODE" -e '
const s = require("net").createServer();
s.listen(0, process.argv[1], () => { console.log(s.address().port); s.close(); });
' "$HOST"
}

wait_http() {
    # Poll until the server answers any HTTP response, the process dies, or timeout.
    local url="$1" pid="$2"
    "$NODE" -e '
const http = require("http");
const [url, pid, timeout] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const deadline = Date.now() + timeout * 1000;
function alive() { try { process.kill(pid, 0); return true; } catch (e) { return false; } }
function attempt() {
  if (!alive()) process.exit(2);
  if (Date.now() > deadline) process.exit(1);
  const req = http.get(url, (res) => { res.resume(); process.exit(0); });
  req.setTimeout(2000, () => req.destroy());
  req.on("error", () => setTimeout(attempt, 200));
}
attempt();
' "$url" "$pid" "$START_TIMEOUT"
}

launch() {
    # Tables become ACTIVE at once (the code under test still waits for ACTIVE).
    nohup "$NODE" "$DIR/node_modules/dynalite/cli.js" --host "$HOST" --port "$1" \
        --createTableMs 0 --deleteTableMs 0 --updateTableMs 0 \
        >"$LOG" 2>&1 </dev/null &
}

emulator_main "$@"
