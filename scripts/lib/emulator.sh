# Shared process management for the loopback test emulators (sourced by
# scripts/moto.sh and scripts/dynalite.sh; not run on its own).
#
# The sourcing script sets NAME (for messages), TARGET, LOG, PIDFILE,
# PORTFILE, HOST, START_TIMEOUT and ADDR_IN_USE (the log line of a lost
# port race), and defines cmd_install, free_port, wait_http URL PID and
# launch PORT (starts the server in the background, output to $LOG).
# Then `emulator_main "$@"` runs install|start|stop|status.

die() { echo "$NAME: error: $*" >&2; exit 1; }

is_running() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null
}

cmd_start() {
    cmd_install
    mkdir -p "$TARGET"
    if is_running; then
        if [[ -f "$PORTFILE" ]]; then
            echo "$NAME: already running (pid $(cat "$PIDFILE"))" >&2
            echo "http://$HOST:$(cat "$PORTFILE")"
            return 0
        fi
        cmd_stop
    fi
    rm -f "$PIDFILE" "$PORTFILE"

    local port pid rc attempt
    for attempt in 1 2 3; do
        port="$(free_port)"
        launch "$port"
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
        if [[ $rc -eq 2 ]] && grep -qi "$ADDR_IN_USE" "$LOG"; then
            continue  # lost the port race; try another port
        fi
        break
    done
    echo "$NAME: server log ($LOG):" >&2
    tail -n 30 "$LOG" >&2 || true
    if [[ $rc -eq 2 ]]; then
        die "the server exited during startup"
    fi
    die "the server did not answer on http://$HOST:$port within ${START_TIMEOUT}s"
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
    echo "$NAME: not running" >&2
    return 1
}

emulator_main() {
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
}
