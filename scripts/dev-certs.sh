#!/usr/bin/env bash
# Makes the development PKI and clients file in DIR (default certs-dev)
# unless they exist: a dev CA, a server certificate for localhost, and client
# certificates for two registered nodes and one stranger. Generated material
# is git-ignored; never use it outside a developer's machine.
set -euo pipefail
dir=${1:-certs-dev}
crgate=${CRGATE_BIN:-bin/crgate}

# admin_login's keys (the pepper and the TOTP sealing key), made once and
# kept by make clean-certs: the accounts in accounts.db depend on them.
mkdir -p "$dir"
for key in admin-pepper admin-totp-key; do
	if [ ! -f "$dir/$key" ]; then
		(umask 077 && head -c 32 /dev/urandom | base64 > "$dir/$key")
	fi
done

if [ -f "$dir/ca.key" ]; then
	echo "$dir: dev PKI exists (make clean-certs to start over)"
	exit 0
fi
"$crgate" pki init --dir "$dir"
for name in dhis2 openmrs stranger; do
	"$crgate" pki issue --dir "$dir" --name "$name"
done
rm -f "$dir/clients.json"
"$crgate" clients add --file "$dir/clients.json" --id dhis2 --name "DHIS2 (dev)" \
	--cert "$dir/clients/dhis2.crt" --scope 'Patient.search,Patient.read,Patient.$ihe-pix'
"$crgate" clients add --file "$dir/clients.json" --id openmrs --name "OpenMRS (dev)" \
	--cert "$dir/clients/openmrs.crt" --scope 'Patient.search,Patient.read,Patient.create,Patient.update,Patient.$match'
echo "$dir: 'stranger' has a certificate from the dev CA but is not registered"
