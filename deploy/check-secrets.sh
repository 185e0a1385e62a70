#!/bin/sh
# Run by docker-compose.yml's secrets service before anything else starts:
# every secret must be set, and long enough. docker compose itself cannot
# refuse a missing variable without also refusing `docker compose config`,
# which the project checks without secrets (deploy/compose-check.sh).
# The passwords go into URLs and JSON: letters and digits only.
status=0
need() { # name minimum-length
    eval "value=\${$1:-}"
    if [ "${#value}" -lt "$2" ]; then
        echo "secrets: set $1, at least $2 characters (e.g. openssl rand -hex 32)" >&2
        status=1
    fi
}
for v in ADMIN_TOKEN STOREFRONT_API_KEYS CUSTOMER_JWT_SECRET ORDER_ID_SECRET PAYMENT_WEBHOOK_SECRET; do
    need "$v" 32
done
for v in MARIADB_ROOT_PASSWORD ORDERQ_DB_PASSWORD ORDERQ_BROKER_PASSWORD GRAFANA_ADMIN_PASSWORD; do
    need "$v" 16
    eval "value=\${$v:-}"
    case $value in *[!A-Za-z0-9]*)
        echo "secrets: $v must be letters and digits only" >&2
        status=1 ;;
    esac
done
[ "$status" -eq 0 ] && echo "secrets: all set"
exit "$status"
