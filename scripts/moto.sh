#!/usr/bin/env bash
# Manage a local moto (AWS mock) server for affine-db's DynamoDB tests.
#
# Usage:
#   scripts/moto.sh install   # create/refresh venv with pinned moto[server]
#   scripts/moto.sh start     # start server on a free 127.0.0.1 port, print endpoint URL
#   scripts/moto.sh stop      # stop the server started by `start` (no-op if not running)
#   scripts/moto.sh status    # print endpoint URL if running, exit 1 otherwise
#
# Environment:
#   MOTO_VENV     venv location (default: $REPO/target/moto-venv)
#   MOTO_PYTHON   python used to create the venv (default: python3)
#
# Files (under $REPO/target): moto.log, moto.pid, moto.port
set -euo pipefail

MOTO_VERSION="5.2.5"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
TARGET="$REPO/target"
VENV="${MOTO_VENV:-$TARGET/moto-venv}"
PY_BOOT="${MOTO_PYTHON:-python3}"
MARKER="$VENV/.moto-version"
LOG="$TARGET/moto.log"
PIDFILE="$TARGET/moto.pid"
PORTFILE="$TARGET/moto.port"
HOST="127.0.0.1"
START_TIMEOUT=30
NAME="moto.sh"
ADDR_IN_USE="address already in use"
# shellcheck source=scripts/lib/emulator.sh
source "$SCRIPT_DIR/lib/emulator.sh"

cmd_install() {
    if [[ -x "$VENV/bin/python" && -f "$MARKER" && "$(cat "$MARKER")" == "$MOTO_VERSION" ]]; then
        return 0
    fi
    mkdir -p "$(dirname "$VENV")"
    if [[ -e "$VENV" ]]; then
        rm -rf "$VENV"
    fi
    local out
    out="$(mktemp)"
    if ! "$PY_BOOT" -m venv "$VENV" >"$out" 2>&1; then
        cat "$out" >&2; rm -f "$out"
        die "failed to create venv at $VENV"
    fi
    if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            "moto[server]==$MOTO_VERSION" >"$out" 2>&1; then
        cat "$out" >&2; rm -f "$out"
        rm -rf "$VENV"
        die "pip install moto[server]==$MOTO_VERSION failed"
    fi
    rm -f "$out"
    echo "$MOTO_VERSION" >"$MARKER"
    echo "moto.sh: installed moto[server]==$MOTO_VERSION into $VENV" >&2
}

free_port() {
    "$VENV/bin/python" - "$HOST" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((sys.argv[1], 0))
print(s.getsockname()[1])
s.close()
EOF
}

wait_http() {
    # Poll until the server answers any HTTP response, the process dies, or timeout.
    local url="$1" pid="$2"
    "$VENV/bin/python" - "$url" "$pid" "$START_TIMEOUT" <<'EOF'
import os, sys, time, urllib.request, urllib.error
url, pid, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(2)
    try:
        urllib.request.urlopen(url + "/moto-api/", timeout=2).read()
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # any HTTP response means it is up
    except Exception:
        time.sleep(0.2)
sys.exit(1)
EOF
}

launch() {
    # Dummy credentials/region so nothing ever reaches for real ones.
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
        nohup "$VENV/bin/python" -m moto.server -H "$HOST" -p "$1" \
        >"$LOG" 2>&1 </dev/null &
}

emulator_main "$@"
