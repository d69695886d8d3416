# wharf: `make run` installs what is missing and starts the daemon with its
# defaults; `make test` runs the whole test suite (as root for the kernel
# tests); `make bench` prints the start-latency comparison against peers,
# the cost of bridge networking and published ports, and the registry
# against Distribution 2.8.

GO      ?= go
BIN     := bin/wharf
ROOT    ?= /var/lib/wharf
EXECROOT ?= /run/wharf
# The registry's address for `make run` (empty: no registry).
REGISTRY ?= 127.0.0.1:5000

.PHONY: all build deps test-deps run test vet fuzz bench clean

all: build

# One artifact, two main packages: the daemon (cmd/wharfd) is built first
# and embedded in the lean entry (cmd/wharf: CLI, shim, init), so that the
# processes that start often do not link the daemon's dependencies. The
# recipe, static linking and the shim's entry point included, lives in
# internal/wharfbuild, which the tests and benchmarks use too.
build:
	$(GO) run ./scripts/build -o $(BIN)

deps:
	sh scripts/install-deps.sh

test-deps:
	WHARF_TEST_DEPS=1 sh scripts/install-deps.sh

run: deps build
	$(BIN) daemon --root $(ROOT) --exec-root $(EXECROOT) --registry '$(REGISTRY)'

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || (echo "gofmt needed:"; gofmt -l .; exit 1)

test: test-deps vet
	$(GO) test -count=1 -timeout 20m ./...
	# Testcontainers for Go, in a module of its own so the main module does
	# not carry its dependencies.
	cd integration/testcontainers && $(GO) vet ./... && $(GO) test -count=1 -timeout 10m ./...
	# The OCI distribution-spec conformance suite against the registry,
	# in a module of its own that pins the suite's version.
	cd integration/conformance && $(GO) vet ./... && $(GO) test -count=1 -timeout 10m ./...

# Runs every fuzz target for a short while (FUZZTIME=1m for longer); the
# script finds them with `go test -list`, so none is forgotten.
FUZZTIME ?= 20s
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) sh scripts/fuzz.sh

bench: deps build
	$(GO) run ./bench/startbench -wharf $(BIN)
	$(GO) run ./bench/netbench -wharf $(BIN)
	$(GO) run ./bench/fnbench -wharf $(BIN)
	$(GO) run ./bench/dockerbench -wharf $(BIN)
	$(GO) run ./bench/registrybench -wharf $(BIN)
	$(GO) run ./bench/metricsbench -wharf $(BIN)
	$(GO) run ./bench/schedbench
	$(GO) run ./bench/meshbench

clean:
	rm -rf bin
