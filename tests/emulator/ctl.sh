#!/usr/bin/env bash
# Starts, stops and checks the local AWS emulator (moto + tests/emulator/extensions) in the
# background, on 127.0.0.1.
#
#   tests/emulator/ctl.sh start|stop|restart|status [PORT]     (PORT default: 4566)
#
# start   idempotent: if a healthy emulator already answers on PORT, says so and exits 0.
#         Otherwise runs launcher.py in the background, waits (60 s at most) until it answers
#         both its health check and a Kinesis ListStreams call, and fails with the log's tail
#         if it does not.
# stop    idempotent: stops the emulator started on PORT (by its pidfile) and removes the pidfile.
# status  exits 0 if a healthy emulator answers on PORT, 1 otherwise.
#
# State lives in <repo>/.emulator/ (git-ignored): emulator-PORT.pid and emulator-PORT.log.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
STATE_DIR="$ROOT/.emulator"
PYTHON="$ROOT/.venv/bin/python"
HOST=127.0.0.1
START_TIMEOUT=60

usage() {
    echo "usage: $0 start|stop|restart|status [PORT]" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
COMMAND="$1"
PORT="${2:-4566}"
[[ "$PORT" =~ ^[0-9]+$ ]] && (( PORT > 0 && PORT < 65536 )) || { echo "invalid port: $PORT" >&2; exit 2; }
PIDFILE="$STATE_DIR/emulator-$PORT.pid"
LOGFILE="$STATE_DIR/emulator-$PORT.log"
URL="http://$HOST:$PORT"

# 0 if our emulator's health endpoint answers on PORT.
healthy() {
    curl -fsS --max-time 2 "$URL/_emulator/health" 2>/dev/null | grep -q '"status": "ok"'
}

# 0 if an AWS call (Kinesis ListStreams) answers on PORT.
aws_answers() {
    curl -fsS --max-time 5 -X POST "$URL/" \
        -H 'Content-Type: application/x-amz-json-1.1' \
        -H 'X-Amz-Target: Kinesis_20131202.ListStreams' \
        -H 'Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0' \
        -d '{}' 2>/dev/null | grep -q '"StreamNames"'
}

# 0 if anything accepts TCP connections on PORT.
port_in_use() {
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
}

# The pid in PIDFILE if that process is alive and is our launcher; empty otherwise.
running_pid() {
    local pid
    [[ -f "$PIDFILE" ]] || return 0
    pid="$(tr -dc '0-9' < "$PIDFILE")"
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q 'launcher.py'; then
        echo "$pid"
    fi
}

log_tail() {
    if [[ -s "$LOGFILE" ]]; then
        echo "--- last lines of $LOGFILE ---" >&2
        tail -n 30 "$LOGFILE" >&2
    fi
}

do_status() {
    if healthy; then
        local pid
        pid="$(running_pid)"
        echo "emulator running on $URL${pid:+ (pid $pid)}"
        return 0
    fi
    echo "emulator not running on $URL"
    return 1
}

do_start() {
    if healthy; then
        local pid
        pid="$(running_pid)"
        echo "emulator already running on $URL${pid:+ (pid $pid)}"
        return 0
    fi
    if [[ -z "$(running_pid)" ]]; then
        rm -f "$PIDFILE"
        if port_in_use; then
            echo "port $PORT on $HOST is in use by another program (not the emulator)" >&2
            return 1
        fi
    fi
    [[ -x "$PYTHON" ]] || { echo "$PYTHON is missing: run 'make setup' first" >&2; return 1; }
    mkdir -p "$STATE_DIR"

    local launcher_pid
    launcher_pid="$(running_pid)"
    if [[ -z "$launcher_pid" ]]; then
        : > "$LOGFILE"
        # setsid: the emulator outlives this shell and ignores the terminal's Ctrl-C.
        setsid "$PYTHON" "$HERE/launcher.py" --host "$HOST" --port "$PORT" --pidfile "$PIDFILE" \
            >>"$LOGFILE" 2>&1 </dev/null &
        launcher_pid=$!
    fi

    local deadline=$(( SECONDS + START_TIMEOUT ))
    while (( SECONDS < deadline )); do
        if ! kill -0 "$launcher_pid" 2>/dev/null; then
            echo "the emulator exited during start-up" >&2
            log_tail
            rm -f "$PIDFILE"
            return 1
        fi
        if healthy && aws_answers; then
            echo "emulator running on $URL (pid $launcher_pid, log $LOGFILE)"
            return 0
        fi
        sleep 0.2
    done
    echo "the emulator did not answer on $URL within ${START_TIMEOUT}s" >&2
    log_tail
    kill -TERM "$launcher_pid" 2>/dev/null || true
    rm -f "$PIDFILE"
    return 1
}

do_stop() {
    local pid
    pid="$(running_pid)"
    if [[ -z "$pid" ]]; then
        rm -f "$PIDFILE"
        echo "emulator not running on $URL (nothing to stop)"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for (( i = 0; i < 100; i++ )); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "the emulator (pid $pid) ignored SIGTERM for 10 s: killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    echo "emulator stopped (pid $pid)"
}

case "$COMMAND" in
    start) do_start ;;
    stop) do_stop ;;
    restart) do_stop && do_start ;;
    status) do_status ;;
    *) usage ;;
esac
