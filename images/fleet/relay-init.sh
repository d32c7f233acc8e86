#!/bin/bash
# relay-init (compose.yaml): runs once per `up` in the relay image, as the relay's user, with the
# relay's volume at /data and the enrolment volume at /tmp. Creates the fleet CA when there is none,
# and a single-use enrolment token for each school in DIGIONE_SCHOOLS that has none yet. Nothing
# but bash builtins and digione-relay: the image holds nothing else.
set -euo pipefail
umask 077
relay() { /usr/local/bin/digione-relay --config /etc/digione/relay.toml "$@"; }

if [[ -e /data/authority/ca.key ]]; then
  echo "relay-init: the fleet CA exists"
else
  relay ca init
fi
for school in $DIGIONE_SCHOOLS; do
  token_file=/tmp/$school.token
  if [[ -s $token_file ]]; then
    echo "relay-init: school $school has its token"
    continue
  fi
  token=$(relay enrol --school "$school" --municipality "$DIGIONE_MUNICIPALITY")
  printf '%s\n' "$token" >"$token_file"
  echo "relay-init: issued the enrolment token of school $school"
done
