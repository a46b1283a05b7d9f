#!/usr/bin/env bash
# A PostgreSQL server on this machine, for testing `simgen fit`'s shared study storage for real
# (fit.storage=postgresql+psycopg2://..., several workers on one Optuna study; the tests marked
# "postgres" need it up and do not start it; .ci/run does). Needs root and Debian/Ubuntu
# (apt-get). Idempotent: `up` installs only what is missing, creates the cluster, role and
# database only when absent, and starts the server only when it is not running.
#
#   bash scripts/postgres_local.sh up      # install postgresql if missing, create + start, print the URL
#   bash scripts/postgres_local.sh down    # stop the server (packages, cluster and data stay)
#   bash scripts/postgres_local.sh status  # the cluster's line of pg_lsclusters; exit 0 when it accepts connections
#   bash scripts/postgres_local.sh url     # the SQLAlchemy URL Optuna takes (needs neither root nor the server)
#
# A cluster of its own, "simgen" (Debian's pg_createcluster/pg_ctlcluster, no systemd, so it runs
# inside containers), listening on 127.0.0.1 only, port 5433 (Debian's default cluster "main"
# keeps 5432 and is left alone; SIMGEN_PG_PORT=N picks another port, the same for every
# subcommand and for the tests). Role simgen, password simgen, owning the database simgen_test:
#   postgresql+psycopg2://simgen:simgen@127.0.0.1:5433/simgen_test
set -euo pipefail

cluster=simgen
port=${SIMGEN_PG_PORT:-5433}
role=simgen
password=simgen
db=simgen_test
url="postgresql+psycopg2://$role:$password@127.0.0.1:$port/$db"

# the newest PostgreSQL major version installed (empty when none is)
version() { ls /usr/lib/postgresql 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -n 1 || true; }

# psql as the superuser over the server's Unix socket (peer authentication); cd / because the
# postgres user may not be able to read the caller's directory
as_postgres() { (cd / && runuser -u postgres -- psql -p "$port" -X -q -v ON_ERROR_STOP=1 "$@"); }

ready() { pg_isready -q -h 127.0.0.1 -p "$port" -t 2 2>/dev/null; }

up() {
    if [ "$(id -u)" != 0 ]; then echo "postgres_local.sh: needs root" >&2; exit 1; fi
    local v
    v=$(version)
    if [ -z "$v" ] || [ ! -x "/usr/lib/postgresql/$v/bin/postgres" ] || ! command -v pg_ctlcluster >/dev/null \
            || ! command -v psql >/dev/null; then
        exec 8>/var/lock/simgen-apt.lock  # one apt-get of simgen's scripts at a time
        flock 8
        echo "postgres_local.sh: installing postgresql with apt-get ..." >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        v=$(version)
    fi
    if [ -z "$v" ]; then echo "postgres_local.sh: no PostgreSQL under /usr/lib/postgresql after the install" >&2; exit 1; fi
    # the socket directory; /run is a tmpfs that no systemd-tmpfiles fills in a container
    install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    if [ ! -f "/etc/postgresql/$v/$cluster/postgresql.conf" ]; then
        echo "postgres_local.sh: creating the cluster $v/$cluster on 127.0.0.1:$port ..." >&2
        pg_createcluster "$v" "$cluster" --port "$port" --locale C.UTF-8 --encoding UTF8 \
            -o "listen_addresses='127.0.0.1'" -- --auth-local=peer --auth-host=scram-sha-256 >/dev/null
    fi
    # the port and address of an existing cluster follow this script (SIMGEN_PG_PORT may differ)
    local conf=/etc/postgresql/$v/$cluster/postgresql.conf
    if ! grep -qE "^port = $port\b" "$conf" || ! grep -qE "^listen_addresses = '127.0.0.1'" "$conf"; then
        pg_ctlcluster "$v" "$cluster" stop >/dev/null 2>&1 || true
        sed -i -E -e "s/^#?port\s*=\s*[0-9]+/port = $port/" \
            -e "s/^#?listen_addresses\s*=.*/listen_addresses = '127.0.0.1'/" "$conf"
    fi
    if ! pg_lsclusters -h "$v" "$cluster" | grep -q ' online'; then
        pg_ctlcluster "$v" "$cluster" start
    fi
    for _ in $(seq 30); do ready && break; sleep 1; done
    if ! ready; then
        echo "postgres_local.sh: the server did not come up on 127.0.0.1:$port" >&2
        tail -n 20 "/var/log/postgresql/postgresql-$v-$cluster.log" >&2 || true
        exit 1
    fi
    # the role (its password set again each time) and its database
    as_postgres <<EOF
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') THEN
        CREATE ROLE $role LOGIN PASSWORD '$password';
    ELSE
        ALTER ROLE $role LOGIN PASSWORD '$password';
    END IF;
END \$\$;
EOF
    if [ -z "$(as_postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
        as_postgres -c "CREATE DATABASE $db OWNER $role"
    fi
    echo "postgres_local.sh: PostgreSQL $v up on 127.0.0.1:$port (cluster $v/$cluster, database $db)" >&2
    echo "$url"
}

down() {
    local v
    v=$(version)
    if [ -n "$v" ] && [ -f "/etc/postgresql/$v/$cluster/postgresql.conf" ] \
            && pg_lsclusters -h "$v" "$cluster" | grep -q ' online'; then
        pg_ctlcluster "$v" "$cluster" stop
    fi
    echo "postgres_local.sh: stopped" >&2
}

status() {
    local v
    v=$(version)
    if [ -z "$v" ] || [ ! -f "/etc/postgresql/$v/$cluster/postgresql.conf" ]; then
        echo "postgres_local.sh: no cluster $cluster (run: sudo bash scripts/postgres_local.sh up)" >&2
        return 1
    fi
    pg_lsclusters "$v" "$cluster"
    if ready; then echo "accepting connections: $url"; else echo "not accepting connections on 127.0.0.1:$port"; return 1; fi
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    url) echo "$url" ;;
    *) echo "usage: bash scripts/postgres_local.sh up|down|status|url" >&2; exit 2 ;;
esac
