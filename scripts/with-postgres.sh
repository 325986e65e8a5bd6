#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server; LIVECHAT_TEST_POSTGRES holds its DSN.
#
#   scripts/with-postgres.sh .venv/bin/python -m pytest tests/test_store_postgres.py
#
# The server listens on a Unix socket in a temporary directory only (no TCP), runs as
# the `postgres` user when started by root (initdb refuses root), and is stopped and
# deleted by a trap however the command ends. Debian's `postgresql` package is
# installed with apt-get when no initdb is found.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 command [args...]" >&2
    exit 2
fi

find_bin() {
    if [ -n "${PGBIN:-}" ] && [ -x "$PGBIN/initdb" ]; then
        echo "$PGBIN"
        return
    fi
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$found" ] && [ -x "$found/initdb" ]; then
        echo "$found"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

PGBIN=$(find_bin)
if [ -z "$PGBIN" ]; then
    echo "with-postgres: installing Debian's postgresql package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
    PGBIN=$(find_bin)
fi
if [ -z "$PGBIN" ]; then
    echo "with-postgres: no PostgreSQL initdb found" >&2
    exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/livechat-pg.XXXXXX")
port=${LIVECHAT_PG_PORT:-54329}
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir"
    as_owner=(runuser -u postgres --)
fi

cleanup() {
    "${as_owner[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"${as_owner[@]}" "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres --no-sync >/dev/null
# Test settings: no fsync (a throwaway cluster), enough connections for the race tests.
"${as_owner[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-k $dir -p $port -c listen_addresses='' -c max_connections=200 ${LIVECHAT_PG_OPTIONS--c fsync=off}" \
    start >/dev/null

export LIVECHAT_TEST_POSTGRES="host=$dir port=$port user=postgres dbname=postgres"
export PGBIN
set +e
"$@"
status=$?
set -e
exit "$status"
