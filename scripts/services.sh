#!/usr/bin/env bash
# Start / stop the private services the test suite needs.
#
# Usage:
#   scripts/services.sh start STATE_DIR   # start postgres, redis, (dockerd); write STATE_DIR/env
#   scripts/services.sh stop  STATE_DIR   # stop only what `start` started (by recorded pid)
#
# After `start`, `. STATE_DIR/env` exports:
#   NEURONEST_TEST_DATABASE_URL=postgres://neuronest:neuronest@127.0.0.1:PORT/neuronest
#   NEURONEST_TEST_REDIS_URL=redis://127.0.0.1:PORT/0
#   NEURONEST_TEST_DOCKER=1            (only when a docker daemon answers)
#
# Files in STATE_DIR: postgres.pid, redis.pid, dockerd.pid (only if we started
# dockerd), daemon.json (its config: the gVisor runtimes when runsc is installed),
# pg.datadir, pg.user, *.log, env.  `start` on a STATE_DIR left by a
# previous run stops the recorded processes first, then starts fresh.
# Environment knobs: NEURONEST_NO_DOCKER=1 (never start dockerd),
# NEURONEST_DOCKER_STORAGE_DRIVER=overlay2|vfs (skip auto-detection).
set -euo pipefail

PG_USER_NEW=neuronest-test

log() { echo "services: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
    echo "usage: $0 start|stop STATE_DIR" >&2
    exit 2
}

[[ $# -eq 2 ]] || usage
cmd=$1
STATE_DIR=$2
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd -P)

find_pg_bin() {
    local f best=""
    # newest major version wins
    for f in $(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V); do
        if [[ -x "$f" ]]; then best=$(dirname "$f"); fi
    done
    [[ -n "$best" ]] || die "no PostgreSQL server found (/usr/lib/postgresql/*/bin/initdb); run scripts/system-deps.sh"
    echo "$best"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# pid_alive PID NAME_REGEX: true if PID is running and its comm matches
# (guards against killing a recycled pid).
pid_alive() {
    local pid=$1 re=$2 comm
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    # a zombie is as good as gone
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 1
    [[ "$comm" =~ $re ]]
}

# wait_gone PID NAME_REGEX SECONDS
wait_gone() {
    local pid=$1 re=$2 t=$3 i
    for ((i = 0; i < t * 10; i++)); do
        pid_alive "$pid" "$re" || return 0
        sleep 0.1
    done
    return 1
}

# kill_recorded PIDFILE NAME_REGEX TIMEOUT
kill_recorded() {
    local pf=$1 re=$2 t=$3 pid
    [[ -f "$pf" ]] || return 0
    pid=$(head -n1 "$pf" | tr -dc '0-9')
    if [[ -n "$pid" ]] && pid_alive "$pid" "$re"; then
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" "$re" "$t"; then
            log "pid $pid ($re) did not exit after ${t}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" "$re" 5 || log "pid $pid still alive"
        fi
    fi
    rm -f "$pf"
}

docker_answers() {
    command -v docker >/dev/null 2>&1 || return 1
    timeout 5 docker info >/dev/null 2>&1
}

# ---------------------------------------------------------------- stop ----
stop_all() {
    local pgbin datadir pguser pid
    # PostgreSQL: pg_ctl stop -m fast as the cluster owner, then make sure.
    if [[ -f "$STATE_DIR/postgres.pid" ]]; then
        pid=$(head -n1 "$STATE_DIR/postgres.pid" | tr -dc '0-9')
        datadir=$(cat "$STATE_DIR/pg.datadir" 2>/dev/null || true)
        pguser=$(cat "$STATE_DIR/pg.user" 2>/dev/null || true)
        if [[ -n "$pid" ]] && pid_alive "$pid" '^(postgres|postmaster)$'; then
            if [[ -n "$datadir" && -f "$datadir/postmaster.pid" && -n "$pguser" ]]; then
                pgbin=$(find_pg_bin)
                (cd / && runuser -u "$pguser" -- "$pgbin/pg_ctl" stop -D "$datadir" -m fast -w -t 30 >/dev/null 2>&1) || true
            fi
        fi
        kill_recorded "$STATE_DIR/postgres.pid" '^(postgres|postmaster)$' 30
    fi
    # Redis
    kill_recorded "$STATE_DIR/redis.pid" '^redis-server' 15
    # dockerd: only if we started it (pidfile exists only then).
    if [[ -f "$STATE_DIR/dockerd.pid" ]]; then
        kill_recorded "$STATE_DIR/dockerd.pid" '^dockerd$' 60
    fi
    rm -f "$STATE_DIR/env"
}

# --------------------------------------------------------------- start ----
start_postgres() {
    local pgbin pguser datadir sockdir port attempt pwfile
    pgbin=$(find_pg_bin)

    # initdb refuses to run as root: use an unprivileged cluster owner.
    if [[ $(id -u) -eq 0 ]]; then
        if id postgres >/dev/null 2>&1; then
            pguser=postgres
        else
            if ! id "$PG_USER_NEW" >/dev/null 2>&1; then
                useradd --system --no-create-home --home-dir /nonexistent \
                    --shell /usr/sbin/nologin "$PG_USER_NEW"
            fi
            pguser=$PG_USER_NEW
        fi
    else
        pguser=$(id -un)
    fi

    # The cluster owner must be able to reach the data dir; STATE_DIR may sit
    # under a directory it cannot enter (e.g. /root/...). Then keep the data
    # under /tmp and leave a symlink at STATE_DIR/pg.
    rm -rf "$STATE_DIR/pg"
    if runuser -u "$pguser" -- test -x "$STATE_DIR" 2>/dev/null || [[ $(id -u) -ne 0 ]]; then
        datadir="$STATE_DIR/pg"
        mkdir -p "$datadir"
    else
        datadir=$(mktemp -d /tmp/neuronest-pg.XXXXXX)
        ln -s "$datadir" "$STATE_DIR/pg"
    fi
    sockdir="$datadir/sock"
    # unix socket paths are limited to ~107 bytes
    if (( ${#sockdir} > 80 )); then
        sockdir=$(mktemp -d /tmp/nnpgsock.XXXXXX)
        echo "$sockdir" >"$STATE_DIR/pg.sockdir.extra"
    fi
    mkdir -p "$datadir/data" "$sockdir"
    chmod 700 "$datadir/data"
    if [[ $(id -u) -eq 0 ]]; then chown -R "$pguser:" "$datadir" "$sockdir"; fi
    datadir_data="$datadir/data"
    echo "$datadir_data" >"$STATE_DIR/pg.datadir"
    echo "$pguser" >"$STATE_DIR/pg.user"

    pwfile="$datadir/pwfile"
    echo neuronest >"$pwfile"
    if [[ $(id -u) -eq 0 ]]; then chown "$pguser:" "$pwfile"; fi
    # Bootstrap superuser is `neuronest` (password `neuronest`): password auth
    # over TCP, trust on the private unix socket.
    (cd / && runuser -u "$pguser" -- "$pgbin/initdb" -D "$datadir_data" -U neuronest \
        --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 -N) >"$STATE_DIR/initdb.log" 2>&1 \
        || { cat "$STATE_DIR/initdb.log" >&2; die "initdb failed"; }
    rm -f "$pwfile"

    for attempt in 1 2 3; do
        port=$(free_port)
        cat >"$datadir_data/postgresql.auto.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sockdir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
        if [[ $(id -u) -eq 0 ]]; then chown "$pguser:" "$datadir_data/postgresql.auto.conf"; fi
        if (cd / && runuser -u "$pguser" -- "$pgbin/pg_ctl" start -D "$datadir_data" \
                -l "$datadir/postgres.log" -w -t 60 -s) >/dev/null 2>&1; then
            break
        fi
        log "postgres failed to start on port $port (attempt $attempt)"
        tail -n 20 "$datadir/postgres.log" >&2 || true
        port=""
    done
    [[ -n "$port" ]] || die "could not start postgres"
    head -n1 "$datadir_data/postmaster.pid" >"$STATE_DIR/postgres.pid"
    ln -sf "$datadir/postgres.log" "$STATE_DIR/postgres.log"

    local i
    for ((i = 0; i < 300; i++)); do
        "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
        sleep 0.1
    done
    "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$port" || die "postgres not ready on port $port"
    "$pgbin/psql" -X -q -h "$sockdir" -p "$port" -U neuronest -d postgres \
        -c 'CREATE DATABASE neuronest' >/dev/null
    PG_PORT=$port
}

start_redis() {
    local port attempt i pf="$STATE_DIR/redis.pid"
    command -v redis-server >/dev/null || die "redis-server missing; run scripts/system-deps.sh"
    for attempt in 1 2 3; do
        port=$(free_port)
        rm -f "$pf"
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --databases 256 \
            --daemonize yes --pidfile "$pf" --logfile "$STATE_DIR/redis.log" \
            --dir "$STATE_DIR" </dev/null >/dev/null 2>&1 || true
        for ((i = 0; i < 100; i++)); do
            [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]] && [[ -s "$pf" ]] && break
            sleep 0.1
        done
        if [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]] && [[ -s "$pf" ]]; then
            REDIS_PORT=$port
            return 0
        fi
        log "redis failed to start on port $port (attempt $attempt)"
        tail -n 20 "$STATE_DIR/redis.log" >&2 || true
        kill_recorded "$pf" '^redis-server' 5
    done
    die "could not start redis"
}

# write_daemon_json: the config of the dockerd we start. runsc (gVisor) is registered
# once per container network, because its own --network flag must match it: `runsc`
# for network none, `runsc-host` for host (the backend's default names). The ptrace
# platform is the one that works without KVM.
write_daemon_json() {
    local runsc
    runsc=$(command -v runsc || true)
    if [[ -z $runsc ]]; then
        echo '{}' >"$STATE_DIR/daemon.json"
        log "runsc not installed; Docker runsc tests will be skipped"
        return 0
    fi
    cat >"$STATE_DIR/daemon.json" <<EOF
{
  "runtimes": {
    "runsc": {"path": "$runsc", "runtimeArgs": ["--platform=ptrace", "--network=none"]},
    "runsc-host": {"path": "$runsc", "runtimeArgs": ["--platform=ptrace", "--network=host"]}
  }
}
EOF
}

# try_dockerd DRIVER: start dockerd with DRIVER, wait up to 60 s for `docker info`.
try_dockerd() {
    local driver=$1 pid i
    local dockerd
    dockerd=$(command -v dockerd || echo /usr/sbin/dockerd)
    write_daemon_json
    log "starting dockerd (storage driver $driver)"
    setsid "$dockerd" --config-file="$STATE_DIR/daemon.json" --storage-driver="$driver" \
        --iptables=false --ip-masq=false \
        --bridge=none </dev/null >>"$STATE_DIR/dockerd.log" 2>&1 &
    pid=$!
    echo "$pid" >"$STATE_DIR/dockerd.pid"
    # $pid is our own unreaped child, so it cannot be recycled: test liveness
    # with kill -0 / zombie state (its comm is still "bash"/"setsid" until the
    # exec completes, so no name check here).
    local deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null || [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]]; then
            wait "$pid" 2>/dev/null || true
            rm -f "$STATE_DIR/dockerd.pid"
            return 1
        fi
        if docker_answers; then return 0; fi
        sleep 0.5
    done
    log "dockerd ($driver) did not answer within 60s"
    kill_recorded "$STATE_DIR/dockerd.pid" '^dockerd$' 30
    return 1
}

start_docker() {
    DOCKER_OK=0
    if docker_answers; then
        DOCKER_OK=1
        # Not ours: its runtimes are what they are (the runsc tests say so when absent).
        return 0
    fi
    if [[ ${NEURONEST_NO_DOCKER:-0} == 1 ]]; then return 0; fi
    if ! command -v dockerd >/dev/null 2>&1 && [[ ! -x /usr/sbin/dockerd ]]; then
        log "WARNING: dockerd not installed; docker tests will be skipped"
        return 0
    fi
    local drivers=(overlay2 vfs)
    if [[ -n ${NEURONEST_DOCKER_STORAGE_DRIVER:-} ]]; then drivers=("$NEURONEST_DOCKER_STORAGE_DRIVER"); fi
    local d
    for d in "${drivers[@]}"; do
        if try_dockerd "$d"; then
            DOCKER_OK=1
            echo "$d" >"$STATE_DIR/dockerd.driver"
            return 0
        fi
        log "dockerd with $d failed; see $STATE_DIR/dockerd.log"
    done
    log "WARNING: no docker daemon; docker tests will be skipped"
    tail -n 20 "$STATE_DIR/dockerd.log" >&2 || true
}

start_all() {
    stop_all
    # remove leftovers of a previous run
    if [[ -f "$STATE_DIR/pg.sockdir.extra" ]]; then
        rm -rf "$(cat "$STATE_DIR/pg.sockdir.extra")"
        rm -f "$STATE_DIR/pg.sockdir.extra"
    fi
    if [[ -L "$STATE_DIR/pg" ]]; then
        rm -rf "$(readlink "$STATE_DIR/pg")"
        rm -f "$STATE_DIR/pg"
    fi
    rm -f "$STATE_DIR/dockerd.driver" "$STATE_DIR/redis.log" "$STATE_DIR/dockerd.log"

    # If anything below fails, do not leave half the services running.
    # shellcheck disable=SC2154
    trap 'rc=$?; if [[ $rc -ne 0 ]]; then log "start failed; stopping what was started"; stop_all; fi' EXIT

    start_postgres
    start_redis
    start_docker

    local envf="$STATE_DIR/env"
    {
        echo "export NEURONEST_TEST_DATABASE_URL=postgres://neuronest:neuronest@127.0.0.1:$PG_PORT/neuronest"
        echo "export NEURONEST_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
        if [[ $DOCKER_OK -eq 1 ]]; then echo "export NEURONEST_TEST_DOCKER=1"; fi
    } >"$envf.tmp"
    mv "$envf.tmp" "$envf"
    trap - EXIT
    log "postgres on 127.0.0.1:$PG_PORT, redis on 127.0.0.1:$REDIS_PORT, docker=$DOCKER_OK" \
        "$([[ -f $STATE_DIR/dockerd.pid ]] && echo "(started by us, pid $(cat "$STATE_DIR/dockerd.pid"))")"
    log "env written to $envf"
}

case "$cmd" in
    start) start_all ;;
    stop)
        stop_all
        if [[ -f "$STATE_DIR/pg.sockdir.extra" ]]; then
            rm -rf "$(cat "$STATE_DIR/pg.sockdir.extra")"
            rm -f "$STATE_DIR/pg.sockdir.extra"
        fi
        if [[ -L "$STATE_DIR/pg" ]]; then
            rm -rf "$(readlink "$STATE_DIR/pg")"
            rm -f "$STATE_DIR/pg"
        fi
        log "stopped"
        ;;
    *) usage ;;
esac
