#!/bin/sh
# Make deploy/secrets/: the service's bearer token, the database password and the audit URL
# that uses it. Readable by the owner only; run once before `docker compose up`.
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
[ -s secrets/calfrules_token ] || python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > secrets/calfrules_token
[ -s secrets/postgres_password ] || python3 -c 'import secrets; print(secrets.token_hex(24))' > secrets/postgres_password
printf 'postgresql://calfrules:%s@postgres:5432/calfrules\n' "$(cat secrets/postgres_password)" > secrets/calfrules_audit_url
# compose bind-mounts each file with its owner and mode: give it to the container's user
# (calfrules is uid 10001 in deploy/Dockerfile, postgres 999 in the postgres image)
if [ "$(id -u)" = 0 ]; then
  chown 10001 secrets/calfrules_token secrets/calfrules_audit_url
  chown 999 secrets/postgres_password
else
  echo "not root: run 'sudo chown 10001 secrets/calfrules_*; sudo chown 999 secrets/postgres_password'" >&2
fi
echo "deploy/secrets/ ready: calfrules_token, postgres_password, calfrules_audit_url"
