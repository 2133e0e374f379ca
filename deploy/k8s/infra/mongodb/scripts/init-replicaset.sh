#!/usr/bin/env bash
# Initiates replica set $RS_NAME over mongodb-0..N-1 and creates the application users.
# Credentials reach mongosh through the environment, never the command line.
set -euo pipefail

: "${POD_NAMESPACE:?}" "${MONGO_ROOT_USERNAME:?}" "${MONGO_ROOT_PASSWORD:?}"
RS_NAME=${RS_NAME:-rs0}
REPLICAS=${REPLICAS:-3}
export RS_NAME REPLICAS
# With a CA file the members are reached over TLS (they run with requireTLS).
tls=
if [[ -n ${MONGO_TLS_CA_FILE:-} ]]; then
  tls="&tls=true&tlsCAFile=${MONGO_TLS_CA_FILE}"
fi

hosts=()
for ((i = 0; i < REPLICAS; i++)); do
  hosts+=("mongodb-${i}.mongodb.${POD_NAMESPACE}.svc:27017")
done

# rs.initiate needs every member up.
for host in "${hosts[@]}"; do
  until mongosh --quiet --norc "mongodb://${host}/?directConnection=true${tls}" \
    --eval 'db.adminCommand({ping: 1}).ok' >/dev/null 2>&1; do
    echo "waiting for ${host}"
    sleep 5
  done
done

mongosh --quiet --norc "mongodb://${hosts[0]}/admin?directConnection=true${tls}" /scripts/initiate.js

# Users are written on the primary, wherever the election put it.
seed=$(IFS=,; echo "${hosts[*]}")
for attempt in $(seq 1 30); do
  if mongosh --quiet --norc "mongodb://${seed}/admin?replicaSet=${RS_NAME}${tls}" /scripts/users.js; then
    exit 0
  fi
  echo "no primary yet (attempt ${attempt})"
  sleep 5
done
echo "gave up waiting for a primary" >&2
exit 1
