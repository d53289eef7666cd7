# crgate — build, run and test.
#
#   make run    dev PKI (if missing), build, start the registry simulator and
#               crgate with ./Caddyfile on https://localhost:9443
#   make test   unit tests and the end-to-end suite against bin/crgate
#   make bench  crgate beside plain Caddy and nginx on loopback
#               (bench/results.md; docs/performance.md)

GO      ?= go
CERTS   ?= certs-dev
BIN     := bin/crgate
SIM     := bin/registry-sim
# The end-to-end suite runs these binaries; building them once keeps the Go
# build cache warm for the test build that follows.
TESTENV := CRGATE_BIN=$(abspath $(BIN)) REGISTRY_SIM_BIN=$(abspath $(SIM))

.PHONY: all build sim certs run test unit e2e vet clean clean-certs tools test-deps-login bench bench-smoke bench-tools

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

# The benchmark: ~7 minutes, not part of `make test`. nginx (Debian's) takes
# part when installed; BENCH_FLAGS passes crgate-bench flags, e.g.
# BENCH_FLAGS='-trials 3 -workloads search-h1-c64'.
bench: build sim bench-tools
	bin/crgate-bench -crgate $(BIN) -sim $(SIM) -load bin/crgate-load $(BENCH_FLAGS)

bench-tools:
	$(GO) build -o bin/crgate-load ./bench/cmd/crgate-load
	$(GO) build -o bin/crgate-bench ./bench/cmd/crgate-bench

# The benchmark in miniature (one trial, a fraction of a second per run);
# `make test` runs it too, as part of ./...
bench-smoke: build sim
	$(TESTENV) $(GO) test -count=1 -run TestSmoke -v ./bench/driver/

# tools installs the pinned test tools (npm ci): the independent FHIR R4
# validators internal/balp's tests run on its AuditEvents. CI runs it before
# make test (there the tests fail, not skip, without it).
tools:
	npm ci --prefix tools/fhir-validate --no-audit --no-fund

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

clean:
	rm -rf bin

clean-certs:
	rm -rf $(CERTS)/*.crt $(CERTS)/*.key $(CERTS)/*.crl $(CERTS)/clients.json $(CERTS)/clients

# Debian packages the admin_login tests need: PostgreSQL (initdb and pg_ctl,
# which the tests run as the unprivileged postgres user on a loopback port)
# and Chromium (the browser end-to-end test). With CI=true those tests fail
# rather than skip when these are missing.
test-deps-login:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v chromium >/dev/null 2>&1; then \
		echo "postgresql and chromium present"; \
	else \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql chromium; \
	fi
