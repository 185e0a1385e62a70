# shellcheck shell=bash
# Sourced by the MariaDB image's entrypoint the first time it starts on an
# empty data directory (docker-compose.yml mounts deploy/mysql/ as
# /docker-entrypoint-initdb.d): creates the user the gateway and the worker
# log in as, with the password ORDERQ_DB_PASSWORD. 20-orderq-grants.sql then
# grants it what the programs need on database orderq and nothing more.
# An existing data directory is left as it is: see the README to add the user
# to a database that predates this file.
if [ -z "${ORDERQ_DB_PASSWORD:-}" ]; then
	mysql_error "ORDERQ_DB_PASSWORD is not set: the orderq user needs a password"
fi
docker_process_sql --database=mysql <<-EOSQL
	CREATE USER 'orderq'@'%' IDENTIFIED BY '$(docker_sql_escape_string_literal "$ORDERQ_DB_PASSWORD")';
EOSQL
