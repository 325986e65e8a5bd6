#!/usr/bin/env bash
# Run a command with a throwaway Redis server; LIVECHAT_TEST_REDIS holds its URL.
#
#   scripts/with-redis.sh .venv/bin/python -m pytest tests/test_relay_redis.py
#
# The server listens on a Unix socket in a temporary directory only (no TCP), keeps
# nothing on disk, and is stopped and deleted by a trap however the command ends.
# LIVECHAT_REDIS_SERVER names the binary, for tests that start servers of their own.
# Debian's `redis-server` package is installed with apt-get when none is found.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 command [args...]" >&2
    exit 2
fi

server=$(command -v redis-server || true)
if [ -z "$server" ]; then
    echo "with-redis: installing Debian's redis-server package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq redis-server >/dev/null
    server=$(command -v redis-server || true)
fi
if [ -z "$server" ]; then
    echo "with-redis: no redis-server found" >&2
    exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/livechat-redis.XXXXXX")
cleanup() {
    if [ -f "$dir/redis.pid" ]; then
        kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
        for _ in $(seq 50); do
            [ -f "$dir/redis.pid" ] || break
            sleep 0.1
        done
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$server" --port 0 --unixsocket "$dir/redis.sock" --unixsocketperm 700 --save '' \
    --appendonly no --daemonize yes --pidfile "$dir/redis.pid" --dir "$dir" \
    --logfile "$dir/redis.log"
for _ in $(seq 100); do
    [ -S "$dir/redis.sock" ] && break
    sleep 0.05
done

export LIVECHAT_TEST_REDIS="unix://$dir/redis.sock"
export LIVECHAT_REDIS_SERVER="$server"
set +e
"$@"
status=$?
set -e
exit "$status"
