#!/usr/bin/env bash
# Validates docker-compose.yml with the real Compose CLI (`docker compose config`),
# which needs no Docker engine. When the docker CLI has no compose plugin, the
# plugin is built once from the Go module proxy into the user's CLI plugin folder;
# later runs find it there.
set -euo pipefail
cd "$(dirname "$0")/.."

# The newest release that builds with Go 1.26.8 from what the Go module proxy
# serves: v5.7.0 needs Go 1.26.10, and v5.6.0 pins a dependency version the
# proxy does not serve.
COMPOSE_VERSION=v5.5.1
COMPOSE_MODULE=github.com/docker/compose/v5

die() { printf 'compose-check: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null || die "the docker CLI is not installed"

if ! docker compose version >/dev/null 2>&1; then
    command -v go >/dev/null || die "docker compose is missing and there is no Go toolchain to build it"
    plugin_dir=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
    echo "compose-check: building docker compose $COMPOSE_VERSION into $plugin_dir (first run only, a few minutes)" >&2
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # `go install module/cmd@version` refuses this module because its go.mod has
    # exclude directives, so download it and build inside it, with its own go.sum.
    (cd "$tmp" && GOWORK=off go mod download "$COMPOSE_MODULE@$COMPOSE_VERSION") ||
        die "downloading $COMPOSE_MODULE@$COMPOSE_VERSION failed"
    src=$(GOWORK=off go env GOMODCACHE)/$COMPOSE_MODULE@$COMPOSE_VERSION
    (cd "$src" && GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X $COMPOSE_MODULE/internal.Version=$COMPOSE_VERSION" \
        -o "$tmp/docker-compose" ./cmd) || die "building docker compose $COMPOSE_VERSION failed"
    install -D -m 0755 "$tmp/docker-compose" "$plugin_dir/docker-compose"
    docker compose version >/dev/null || die "docker does not pick up $plugin_dir/docker-compose"
fi

docker compose version

# The secrets the stack needs: docker-compose.yml has a default for none of
# them, and its secrets service (deploy/check-secrets.sh) refuses to let the
# stack start without each. The check reads no .env file, so it validates the
# file, not this shell's environment.
secrets=(ADMIN_TOKEN STOREFRONT_API_KEYS CUSTOMER_JWT_SECRET ORDER_ID_SECRET PAYMENT_WEBHOOK_SECRET
    MARIADB_ROOT_PASSWORD ORDERQ_DB_PASSWORD ORDERQ_BROKER_PASSWORD GRAFANA_ADMIN_PASSWORD)
dummies=()
for v in "${secrets[@]}"; do dummies+=("$v=composecheck${v//_/}0123456789abcdef0123456789abcdef"); done
# config [VAR=value ...] [-- config flags]: `docker compose config` of every
# service, including those behind a profile, with only the given variables.
config() {
    local vars=()
    while (($#)) && [[ $1 != -- ]]; do vars+=("$1"); shift; done
    (($#)) && shift
    env -i PATH="$PATH" HOME="$HOME" ${DOCKER_CONFIG:+DOCKER_CONFIG="$DOCKER_CONFIG"} "${vars[@]}" \
        docker compose --env-file /dev/null -f docker-compose.yml --profile '*' config "$@"
}

config -- -q || die "docker-compose.yml is not valid without its secrets set"
config "${dummies[@]}" -- -q || die "docker-compose.yml is not valid with every secret set"
env -i "${dummies[@]}" sh deploy/check-secrets.sh >/dev/null ||
    die "deploy/check-secrets.sh refuses the secrets all set"
for v in "${secrets[@]}"; do
    others=()
    for d in "${dummies[@]}"; do [[ $d == "$v="* ]] || others+=("$d"); done
    if env -i "${others[@]}" sh deploy/check-secrets.sh 2>/dev/null; then
        die "deploy/check-secrets.sh lets the stack start without $v"
    fi
done
# Every service waits for the secrets service to succeed.
config "${dummies[@]}" -- --format json | python3 -c '
import json, sys
services = json.load(sys.stdin)["services"]
missing = [n for n, s in services.items() if n != "secrets" and
           s.get("depends_on", {}).get("secrets", {}).get("condition") != "service_completed_successfully"]
if missing:
    sys.exit("services that do not wait for the secrets service: " + ", ".join(missing))
' || die "a service can start without its secrets checked"
# Only the gateway's API port reaches the host's network, and Grafana's its
# loopback.
config "${dummies[@]}" -- --format json | python3 -c '
import json, sys
allowed = {("api-gateway", "8080", ""), ("grafana", "3000", "127.0.0.1")}
published = {(n, str(p.get("published")), p.get("host_ip", ""))
             for n, s in json.load(sys.stdin)["services"].items() for p in s.get("ports", [])}
if published != allowed:
    sys.exit("published ports %s; want the API on 8080 and Grafana on 127.0.0.1:3000 alone" % sorted(published))
' || die "docker-compose.yml publishes a port it must not"
echo "compose-check: docker-compose.yml is valid, starts nothing without every secret, and publishes only the API port (and Grafana on loopback)"
