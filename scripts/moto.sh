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

die() { echo "moto.sh: error: $*" >&2; exit 1; }

is_running() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null
}

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

cmd_start() {
    cmd_install
    mkdir -p "$TARGET"
    if is_running; then
        if [[ -f "$PORTFILE" ]]; then
            echo "moto.sh: already running (pid $(cat "$PIDFILE"))" >&2
            echo "http://$HOST:$(cat "$PORTFILE")"
            return 0
        fi
        cmd_stop
    fi
    rm -f "$PIDFILE" "$PORTFILE"

    local port pid rc attempt
    for attempt in 1 2 3; do
        port="$(free_port)"
        # Dummy credentials/region so nothing ever reaches for real ones.
        AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
            nohup "$VENV/bin/python" -m moto.server -H "$HOST" -p "$port" \
            >"$LOG" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$PIDFILE"
        echo "$port" >"$PORTFILE"
        rc=0
        wait_http "http://$HOST:$port" "$pid" || rc=$?
        if [[ $rc -eq 0 ]]; then
            echo "http://$HOST:$port"
            return 0
        fi
        cmd_stop >/dev/null 2>&1 || true
        if [[ $rc -eq 2 ]] && grep -qi "address already in use" "$LOG"; then
            continue  # lost the port race; try another port
        fi
        break
    done
    echo "moto.sh: server log ($LOG):" >&2
    tail -n 30 "$LOG" >&2 || true
    if [[ $rc -eq 2 ]]; then
        die "moto server exited during startup"
    fi
    die "moto server did not answer on http://$HOST:$port within ${START_TIMEOUT}s"
}

cmd_stop() {
    if [[ ! -f "$PIDFILE" ]]; then
        rm -f "$PORTFILE"
        return 0
    fi
    local pid i
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.1
        fi
        wait "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE" "$PORTFILE"
}

cmd_status() {
    if is_running && [[ -f "$PORTFILE" ]]; then
        echo "http://$HOST:$(cat "$PORTFILE")"
        return 0
    fi
    echo "moto.sh: not running" >&2
    return 1
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 {install|start|stop|status}" >&2
        exit 2
        ;;
esac
