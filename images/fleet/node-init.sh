#!/bin/bash
# node-NNNNN-init (compose.yaml): runs once per `up` in the node image, as the node's user, with the
# node's volume at /data, the enrolment tokens at /tmp (read-only) and the school's OneRoster
# package at /roster. On a node that is not yet initialised: enrols with the school's token,
# imports the roster and sets every user's password to DIGIONE_DEMO_PASSWORD. An initialised node
# is left alone. Nothing but bash builtins and digione-node: the image holds nothing else.
set -euo pipefail
school=${DIGIONE_SCHOOL:?}
password=${DIGIONE_DEMO_PASSWORD:-digione-demo}
node() { /usr/local/bin/digione-node --config /etc/digione/node.toml "$@"; }

if [[ -e /data/school.toml ]]; then
  echo "node-init: school $school is initialised"
  exit 0
fi
token=$(</tmp/"$school".token)
node init --token "$token" --relay "$DIGIONE_NODE_RELAY__ADDRESS"
node import-roster /roster
users=0
# users.csv: sourcedId,status,dateLastModified,enabledUser,username,… (quoted fields come later).
while IFS=, read -r sourced_id _ _ _ username _; do
  [[ $sourced_id == sourcedId || -z $username ]] && continue
  printf '%s\n' "$password" | node set-password "$username"
  users=$((users + 1))
done </roster/users.csv
echo "node-init: school $school enrolled, roster imported, $users passwords set"
