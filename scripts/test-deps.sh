#!/usr/bin/env bash
# Installs the real peers the test suite runs against, only what is
# missing: PostgreSQL and Chromium (admin_login), rsyslog with its TLS
# drivers and a FHIR server from npm (audit sinks), nginx (the benchmark's
# smoke run), and the FHIR validators from npm (audit events). `make test`
# and CI call it. Without root (or apt-get) it says what is missing; the
# tests that need it then skip locally and fail under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1; }
need=()
have make || need+=(make)
have openssl || need+=(openssl)
have curl || need+=(curl)
have node || need+=(nodejs)
have npm || need+=(npm)
have taskset || need+=(util-linux)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
have chromium || need+=(chromium)
have nginx || [ -x /usr/sbin/nginx ] || need+=(nginx)
have rsyslogd || [ -x /usr/sbin/rsyslogd ] || need+=(rsyslog)
ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1 || need+=(rsyslog-gnutls)
ls /usr/lib/*/rsyslog/lmnsd_ossl.so >/dev/null 2>&1 || need+=(rsyslog-openssl)

if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && have apt-get; then
		echo "test-deps: installing ${need[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq "${need[@]}" >/dev/null
	else
		echo "test-deps: missing ${need[*]} (install them as root); the tests that need them skip, or fail under CI=true" >&2
	fi
fi

# npm tools, each pinned by its package-lock.json; reinstalled when the
# lock changes.
if have npm; then
	for dir in tools/*/; do
		dir=${dir%/}
		[ -f "$dir/package-lock.json" ] || continue
		if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
			echo "test-deps: npm ci in $dir"
			npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error
		fi
	done
fi
