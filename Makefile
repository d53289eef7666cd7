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

.PHONY: all build sim certs run test test-deps unit e2e vet clean clean-certs bench bench-smoke bench-tools

all: build sim

build:
	$(GO) build -o $(BIN) ./cmd/crgate

sim:
	$(GO) build -o $(SIM) ./examples/registry-sim

certs: build
	CRGATE_BIN=$(BIN) scripts/dev-certs.sh $(CERTS)

run: build sim certs
	CRGATE_BIN=$(BIN) REGISTRY_SIM_BIN=$(SIM) CRGATE_CERTS=$(CERTS) scripts/run-dev.sh

test: test-deps build sim
	$(TESTENV) $(GO) test -count=1 -timeout 15m ./...

# The real peers the tests run against, installed when missing (as root):
# PostgreSQL and Chromium (admin_login), rsyslog and a FHIR server (audit
# sinks), nginx (the benchmark's smoke run), the npm FHIR validators (audit
# events). Without them those tests skip locally and fail under CI=true.
test-deps:
	@scripts/test-deps.sh

unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /e2e)

e2e: test-deps build sim
	$(TESTENV) $(GO) test -count=1 -timeout 15m -v ./e2e/

# The benchmark: ~7 minutes, not part of `make test`. nginx (Debian's) takes
# part when installed; BENCH_FLAGS passes crgate-bench flags, e.g.
# BENCH_FLAGS='-trials 3 -workloads search-h1-c64'.
bench: build sim bench-tools
	bin/crgate-bench -crgate $(BIN) -sim $(SIM) -load bin/crgate-load -results bench/results.md $(BENCH_FLAGS)

bench-tools:
	$(GO) build -o bin/crgate-load ./bench/cmd/crgate-load
	$(GO) build -o bin/crgate-bench ./bench/cmd/crgate-bench

# The benchmark in miniature (one trial, a fraction of a second per run);
# `make test` runs it too, as part of ./...
bench-smoke: build sim
	$(TESTENV) $(GO) test -count=1 -run TestSmoke -v ./bench/driver/

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }


clean:
	rm -rf bin

clean-certs:
	rm -rf $(CERTS)/*.crt $(CERTS)/*.key $(CERTS)/*.crl $(CERTS)/clients.json $(CERTS)/clients
