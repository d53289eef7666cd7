# crgate — build, run and test.
#
#   make run    dev PKI (if missing), build, start the registry simulator and
#               crgate with ./Caddyfile on https://localhost:9443
#   make test   unit tests and the end-to-end suite against bin/crgate

GO      ?= go
CERTS   ?= certs-dev
BIN     := bin/crgate
SIM     := bin/registry-sim
# The end-to-end suite runs these binaries; building them once keeps the Go
# build cache warm for the test build that follows.
TESTENV := CRGATE_BIN=$(abspath $(BIN)) REGISTRY_SIM_BIN=$(abspath $(SIM))

.PHONY: all build sim certs run test unit e2e vet clean clean-certs test-peers

all: build sim

build:
	$(GO) build -o $(BIN) ./cmd/crgate

sim:
	$(GO) build -o $(SIM) ./examples/registry-sim

certs: build
	CRGATE_BIN=$(BIN) scripts/dev-certs.sh $(CERTS)

run: build sim certs
	CRGATE_BIN=$(BIN) REGISTRY_SIM_BIN=$(SIM) CRGATE_CERTS=$(CERTS) scripts/run-dev.sh

test: build sim
	$(TESTENV) $(GO) test -count=1 -timeout 15m ./...

unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /e2e)

e2e: build sim
	$(TESTENV) $(GO) test -count=1 -timeout 15m -v ./e2e/

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

# The real peers the audit sink tests run against: rsyslog (an RFC 5425
# TLS syslog receiver, GnuTLS and OpenSSL drivers) from Debian, and a FHIR
# server (tools/fhir-server: medplum's FHIR router, pinned by its
# package-lock.json) from npm. Without them those tests skip locally and
# fail under CI=true.
RSYSLOG_PKGS := rsyslog rsyslog-gnutls rsyslog-openssl
test-peers:
	@if ! command -v rsyslogd >/dev/null 2>&1 && ! test -x /usr/sbin/rsyslogd || \
	   ! ls /usr/lib/*/rsyslog/lmnsd_gtls.so /usr/lib/*/rsyslog/lmnsd_ossl.so >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(RSYSLOG_PKGS); \
	fi
	npm ci --prefix tools/fhir-server --ignore-scripts --no-audit --no-fund

clean:
	rm -rf bin

clean-certs:
	rm -rf $(CERTS)/*.crt $(CERTS)/*.key $(CERTS)/*.crl $(CERTS)/clients.json $(CERTS)/clients
