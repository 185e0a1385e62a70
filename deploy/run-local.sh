#!/usr/bin/env bash
# `make run`: makes sure RabbitMQ (127.0.0.1:5672) and MySQL/MariaDB
# (127.0.0.1:3306) are up, starting local servers or else containers, then runs
# bin/worker and bin/api-gateway in the foreground until either exits or Ctrl-C.
# Environment: the programs' own variables (CONTRACT.md), and
# RUN_LOCAL_TIMEOUT, seconds to wait for each server (default 90).
set -euo pipefail
cd "$(dirname "$0")/.."

# The servers' programs live in sbin, which a user's PATH may lack.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
timeout_s=${RUN_LOCAL_TIMEOUT:-90}

log() { printf 'run-local: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# as_root runs a command as root, through sudo when we are not root.
as_root() {
    if ((EUID == 0)); then "$@"; else sudo "$@"; fi
}

# port_open HOST PORT succeeds when something accepts a TCP connection there.
port_open() {
    # shellcheck disable=SC2016 # $1 and $2 expand in the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# wait_port NAME HOST PORT waits up to timeout_s seconds for the port to open.
wait_port() {
    local name=$1 host=$2 port=$3 deadline=$((SECONDS + timeout_s))
    until port_open "$host" "$port"; do
        ((SECONDS < deadline)) ||
            die "$name is not reachable on $host:$port after ${timeout_s}s"
        sleep 1
    done
}

[[ -x bin/worker && -x bin/api-gateway ]] ||
    die "bin/worker or bin/api-gateway is missing: run make build"

containers=()
rabbitmq_local=
if port_open 127.0.0.1 5672; then
    rabbitmq_local=yes
elif command -v rabbitmq-server >/dev/null; then
    log "starting the local RabbitMQ"
    as_root rabbitmq-server -detached
    rabbitmq_local=yes
else
    containers+=(rabbitmq)
fi

if ! port_open 127.0.0.1 3306; then
    mysqld=$(command -v mariadbd || command -v mysqld || true)
    if [[ -n $mysqld ]] && command -v start-stop-daemon >/dev/null; then
        log "starting the local $(basename "$mysqld")"
        # The socket directory lives on tmpfs and is gone after a reboot.
        if id mysql >/dev/null 2>&1; then
            as_root install -d -o mysql -g mysql /run/mysqld
        fi
        as_root start-stop-daemon --start --oknodo --background --exec "$mysqld" -- --user=mysql
    else
        containers+=(mysql)
    fi
fi

if ((${#containers[@]})); then
    docker compose version >/dev/null 2>&1 ||
        die "${containers[*]}: not running, not installed locally, and docker compose is not available"
    log "starting containers: ${containers[*]}"
    # --wait returns once the health checks pass; a published port alone opens
    # before the server in the container is ready.
    docker compose -f docker-compose.yml up -d --wait --wait-timeout "$timeout_s" "${containers[@]}" ||
        die "docker compose could not start ${containers[*]} (docker compose logs ${containers[*]})"
fi

log "waiting for RabbitMQ on 127.0.0.1:5672 and MySQL on 127.0.0.1:3306 (up to ${timeout_s}s each)"
wait_port RabbitMQ 127.0.0.1 5672
wait_port MySQL 127.0.0.1 3306

# The dashboard: the container image has it; enable it on a local server that
# does not serve it yet (the plugin CLI takes seconds, so skip it when it does).
if [[ -n $rabbitmq_local ]] && ! port_open 127.0.0.1 15672 &&
    command -v rabbitmq-plugins >/dev/null; then
    as_root rabbitmq-plugins enable rabbitmq_management >/dev/null ||
        log "warning: could not enable rabbitmq_management; the dashboard may be missing"
fi

if [[ -z ${ADMIN_TOKEN:-} ]]; then
    ADMIN_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    log "ADMIN_TOKEN was unset; generated one for this run: $ADMIN_TOKEN"
fi
export ADMIN_TOKEN

worker='' gateway='' stopping=''
# stop asks the programs started so far to shut down. SIGTERM rather than the
# SIGINT of a Ctrl-C: programs started in the background begin with SIGINT ignored.
stop() {
    stopping=yes
    for pid in $worker $gateway; do kill -TERM "$pid" 2>/dev/null || true; done
}
trap stop INT TERM HUP

# Each program gets its own session, so a Ctrl-C at the terminal reaches only this
# script, which passes it on exactly once.
setsid bin/worker &
worker=$!
setsid bin/api-gateway &
gateway=$!
[[ -z $stopping ]] || stop

cat >&2 <<EOF

  API                  http://localhost:8080/api/v1
  docs                 http://localhost:8080/docs
  RabbitMQ dashboard   http://localhost:15672  (guest/guest)
  worker metrics       http://localhost:9091/metrics

  Ctrl-C stops both.

EOF

# Wait for the first program to exit (or a signal), then stop the other one.
# The exit status is the first program's when it ended by itself, else 0 unless
# one of them failed while shutting down.
status=0
wait -n -p exited "$worker" "$gateway" || status=$?
exited=${exited:-}
if [[ -n $stopping ]]; then
    # Interrupted by the signal: the status is the signal's, not a program's.
    [[ -n $exited ]] || status=0
else
    case $exited in
        "$worker") log "bin/worker exited with status $status; stopping bin/api-gateway" ;;
        "$gateway") log "bin/api-gateway exited with status $status; stopping bin/worker" ;;
    esac
    ((status != 0)) || status=1
    stop
fi
for pid in $worker $gateway; do
    [[ $pid != "$exited" ]] || continue
    # wait returns early, with a status above 128, when a signal arrives.
    while :; do
        rc=0
        wait "$pid" || rc=$?
        kill -0 "$pid" 2>/dev/null || break
    done
    ((rc == 0 || status != 0)) || status=$rc
done
exit "$status"
