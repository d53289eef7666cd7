#!/usr/bin/env bash
# Starts the registry simulator and crgate with ./Caddyfile in the
# foreground; Ctrl-C stops both.
set -euo pipefail
crgate=${CRGATE_BIN:-bin/crgate}
sim=${REGISTRY_SIM_BIN:-bin/registry-sim}
certs=${CRGATE_CERTS:-certs-dev}
port=${CRGATE_REGISTRY_PORT:-9443}

"$sim" --listen 127.0.0.1:3000 --control 127.0.0.1:3099 &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null || true' EXIT INT TERM

cat <<MSG

crgate is starting on https://localhost:$port (registry simulator on 127.0.0.1:3000).
Try, from another terminal in this directory:

  # a registered node: 200 and a FHIR searchset Bundle
  curl --cacert $certs/ca.crt --cert $certs/clients/dhis2.crt --key $certs/clients/dhis2.key 'https://localhost:$port/fhir/Patient?_count=2'

  # no client certificate: the TLS handshake is refused
  curl --cacert $certs/ca.crt 'https://localhost:$port/fhir/Patient'

  # a certificate from the right CA, but not registered: refused
  curl --cacert $certs/ca.crt --cert $certs/clients/stranger.crt --key $certs/clients/stranger.key 'https://localhost:$port/fhir/Patient'

  # a registered node asking for what its scopes do not grant: 403 and a FHIR OperationOutcome
  curl --cacert $certs/ca.crt --cert $certs/clients/dhis2.crt --key $certs/clients/dhis2.key -X DELETE 'https://localhost:$port/fhir/Patient/p-0001'

  # HAPI's tester UI, however it is spelled: refused, and nothing reaches the registry
  curl --path-as-is --cacert $certs/ca.crt --cert $certs/clients/dhis2.crt --key $certs/clients/dhis2.key 'https://localhost:$port/fhir/..;/home'

Every request above is an AuditEvent in ${CRGATE_AUDIT_DIR:-audit-dev}/audit.jsonl:

  $crgate audit search ${CRGATE_AUDIT_DIR:-audit-dev}/audit.jsonl
  $crgate audit verify --key ${CRGATE_AUDIT_DIR:-audit-dev}/checkpoint.key ${CRGATE_AUDIT_DIR:-audit-dev}/audit.jsonl

The admin site https://localhost:${CRGATE_ADMIN_SITE_PORT:-9444}/crux/ (OpenCR's UI) asks people to log in.
Make yourself an account and open the printed one-time link:

  $crgate users add --email you@example.org --store sqlite:$certs/accounts.db --link-base https://localhost:${CRGATE_ADMIN_SITE_PORT:-9444}

What reached the registry: curl http://127.0.0.1:3099/records
Metrics: curl http://127.0.0.1:2019/metrics | grep crgate_

MSG
"$crgate" run --config Caddyfile --adapter caddyfile
