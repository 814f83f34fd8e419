#!/usr/bin/env bash
# The wire lane: runs tests against a mongodb:// server instead of the in-memory stand-in, so pymongo's real
# client, its BSON and its server selection are exercised. The server is mongoeco (an emulator backed by SQLite,
# not MongoDB: see the README), run from its own Python 3.13 venv (.venv-wire) by scripts/mongoeco_server.py
# on 127.0.0.1, a free port and a data file in a temporary folder; it is stopped and the folder removed on exit.
#
#   ./scripts/test-wire.sh                 the default selection below
#   ./scripts/test-wire.sh tests/storage   any arguments go to pytest instead
#   ./scripts/test-wire.sh --bench [ARGS]  the benchmark on that server: python -m bench --mongodb-uri ... ARGS
#
# Exported to the tests, besides TEST_MONGODB_URI:
#   TEST_MONGODB_SERVER_CMD      the server's start command (shlex-quoted). Started again after a kill -9, it
#                                listens on the same port with the same data, so the URI stays valid.
#   TEST_MONGODB_SERVER_PIDFILE  holds the pid of the running server (rewritten by each start): kill -9 it,
#                                or SIGSTOP it to leave the port open but unanswered. tests/wire.py wraps these.
# Whatever server the pidfile names at exit is stopped too, so a test may leave a restarted one running.
#
# PYTHON313 picks the interpreter for .venv-wire; otherwise python3.13 on PATH or under pyenv.
set -euo pipefail
cd "$(dirname "$0")/.."

# Bump both together; pymongo matches the project's pin so the server's BSON is the client's.
MONGOECO_PIN="4.11.0"
WIRE_REQUIREMENTS=("mongoeco[wire]==$MONGOECO_PIN" "pymongo==4.20.0")
WIRE_VENV=.venv-wire
READY_TIMEOUT_S=30

# setup.sh runs npm ci, which empties node_modules: only when something is missing, since another run of the
# tests may be using this work tree.
if ! .venv/bin/python -c 'import pytest, pytest_asyncio, pytest_timeout' >/dev/null 2>&1 || [ ! -d node_modules ]; then
  ./scripts/setup.sh --test
fi

if [ "$("$WIRE_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mongoeco"))' 2>/dev/null)" \
  != "$MONGOECO_PIN" ]; then
  # A pyenv shim exists even where that version is not selected, so each candidate is run, not just found.
  python313=""
  for candidate in ${PYTHON313:-} python3.13 python3.14 "$HOME"/.pyenv/versions/3.1[3-9]*/bin/python3; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 13))' >/dev/null 2>&1; then
      python313="$candidate"
      break
    fi
  done
  if [ -z "$python313" ]; then
    echo "test-wire: mongoeco needs Python >= 3.13; set PYTHON313=/path/to/python3.13" >&2
    exit 1
  fi
  echo "test-wire: installing mongoeco $MONGOECO_PIN into $WIRE_VENV"
  [ -x "$WIRE_VENV/bin/python" ] || "$python313" -m venv "$WIRE_VENV"
  "$WIRE_VENV/bin/python" -m pip install --quiet "${WIRE_REQUIREMENTS[@]}"
fi

tmp="$(mktemp -d -t test-wire.XXXXXX)"
port="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export TEST_MONGODB_URI="mongodb://127.0.0.1:$port/?directConnection=true"
export TEST_MONGODB_SERVER_PIDFILE="$tmp/server.pid"
server=("$PWD/$WIRE_VENV/bin/python" "$PWD/scripts/mongoeco_server.py"
  --port "$port" --data "$tmp/data.sqlite" --pidfile "$TEST_MONGODB_SERVER_PIDFILE")
TEST_MONGODB_SERVER_CMD="$(printf '%q ' "${server[@]}")"
export TEST_MONGODB_SERVER_CMD="${TEST_MONGODB_SERVER_CMD% }"

"${server[@]}" >"$tmp/server.log" 2>&1 &
first_pid=$!

stop_server() {
  local pid pids="$first_pid"
  [ -s "$TEST_MONGODB_SERVER_PIDFILE" ] && pids="$pids $(cat "$TEST_MONGODB_SERVER_PIDFILE")"
  for pid in $pids; do
    kill -TERM "$pid" 2>/dev/null || continue
    kill -CONT "$pid" 2>/dev/null || true  # a test may have left it paused (SIGSTOP)
    # A restarted server is not this shell's child, so `wait` cannot see it: poll, briefly.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  wait "$first_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap stop_server EXIT

# The pidfile appears once it listens; the ping proves it also answers pymongo.
deadline=$((SECONDS + READY_TIMEOUT_S))
until [ -s "$TEST_MONGODB_SERVER_PIDFILE" ] && .venv/bin/python -c '
import sys, pymongo
pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=500).admin.command("ping")' "$TEST_MONGODB_URI" 2>/dev/null; do
  if ! kill -0 "$first_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
    echo "test-wire: the mongoeco server did not answer within ${READY_TIMEOUT_S}s; its log:" >&2
    cat "$tmp/server.log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "test-wire: mongoeco $MONGOECO_PIN at $TEST_MONGODB_URI"

if [ "${1:-}" = "--bench" ]; then
  shift
  # Not exec either: the trap stops the server afterwards.
  .venv/bin/python -m bench --mongodb-uri "$TEST_MONGODB_URI" "$@"
  exit
fi
if [ "$#" -eq 0 ]; then
  # The storage tests, every other file with a test marked mongodb, and the e2e tests (all pass on mongoeco).
  mapfile -t marked < <(grep -rlE --include='*.py' 'mark\.mongodb|pytestmark.*mongodb' tests \
    | grep -vE '^tests/(storage|e2e)/' | sort)
  set -- tests/storage "${marked[@]}" tests/e2e
fi
# Not exec: the trap must still stop the server once pytest is done.
.venv/bin/python -m pytest "$@"
