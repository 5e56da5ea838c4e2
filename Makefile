# Build, test and lint the allowance payment and ledger service.
# Every target works from a fresh clone: the reference material the tests
# read (XSDs, the eligibility-event contract) lives in testdata/.

GO ?= go
GOFMT ?= gofmt

# The tests, the demo and the server use this database; it is created on
# first connection when missing. Override it to point at CockroachDB.
DATABASE_URL ?= postgres://root@127.0.0.1:5432/ledger?sslmode=disable
export DATABASE_URL

# Extra arguments for `ledgerctl bench`, e.g. make bench BENCH_ARGS='--quick'.
BENCH_ARGS ?=

# staticcheck is run at a pinned version, not recorded in go.mod.
STATICCHECK_VERSION ?= v0.7.0

# Fuzz targets for `make fuzz`, as package:FuzzName pairs separated by
# spaces. FUZZTIME is per target.
FUZZ_TARGETS ?= ./payments:FuzzParseEvent ./payments/sepa:FuzzReadStatusReport ./payments/sepa:FuzzRead ./reconcile:FuzzReadCamt053 ./reconcile:FuzzReadCFONB
FUZZTIME ?= 30s

# The packages that start goroutines of their own (the ledger store, the
# Kafka consumer, the bank gateway, the server's sender and scheduler, the
# leases), tested again under the race detector by `make race`.
RACE_PKGS ?= ./ledger/sqlstore/... ./transport/kafka/... ./payments/bank/... ./internal/server/... ./internal/lease/...

.PHONY: all build test race bench demo run lint fuzz clean vendor-console

all: build

build:
	mkdir -p bin
	$(GO) build -o bin/ ./cmd/...

# All packages share one PostgreSQL server: -p 1 runs one test binary at a
# time so that they do not fight over the database and the two cores.
# Plain `go test` also runs every fuzz target over its seed corpus (f.Add
# and testdata/fuzz/), so the fuzz targets are checked here without -fuzz.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -p 1 -timeout 30m ./...

# The race detector slows tests several times over: only RACE_PKGS, one
# test binary at a time, as in `make test`.
race:
	$(GO) test -race -count=1 -p 1 -timeout 30m $(RACE_PKGS)

bench:
	$(GO) run ./cmd/ledgerctl bench $(BENCH_ARGS)

demo:
	$(GO) run ./cmd/ledgerctl demo

run:
	$(GO) run ./cmd/ledgerd --dev

# Refreshes the files of the State design system (@gouvfr/dsfr) that the
# console embeds, and the axe-core its tests inject, from npm: only the
# files used, with their licences and versions. DSFR_VERSION and
# AXE_VERSION override the versions.
vendor-console:
	internal/console/vendor.sh

lint:
	@out="$$($(GOFMT) -l .)"; \
	if [ -n "$$out" ]; then \
		echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; \
	fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# Runs each fuzz target in turn for FUZZTIME with the coverage-guided fuzzer.
fuzz:
	@if [ -z "$(strip $(FUZZ_TARGETS))" ]; then echo "no fuzz targets listed in FUZZ_TARGETS"; exit 0; fi; \
	for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzzing $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) "$$pkg" || exit 1; \
	done

clean:
	rm -rf bin/
	rm -f coverage.out cpu.out mem.out
