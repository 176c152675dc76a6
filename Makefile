# kloros-observer — see README.md. Quick start: `make run`, `make test`.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
# What --version prints (buildinfo, in Prometheus' style). SOURCE_DATE_EPOCH
# fixes the build date for reproducible builds.
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH     ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_USER ?= $(shell id -un 2>/dev/null)@$(shell hostname 2>/dev/null)
BUILD_DATE ?= $(shell date -u $(if $(SOURCE_DATE_EPOCH),-d @$(SOURCE_DATE_EPOCH)) +%Y%m%d-%H:%M:%S)
BUILDINFO  := github.com/kloros/kloros-observer/supervision/buildinfo
LDFLAGS    := -X $(BUILDINFO).Version=$(VERSION) -X $(BUILDINFO).Revision=$(REVISION) \
              -X $(BUILDINFO).Branch=$(BRANCH) -X $(BUILDINFO).BuildUser=$(BUILD_USER) \
              -X $(BUILDINFO).BuildDate=$(BUILD_DATE)

# Debian packages the build needs (cgo: libzmq, libsystemd).
DEB_BUILD := libzmq3-dev libsystemd-dev pkg-config
# Debian packages only the tests need: the real peers they start.
DEB_TEST  := python3-zmq systemd systemd-journal-remote prometheus-node-exporter prometheus chromium dbus

# Extra flags for `make run`, e.g. make run RUN_ARGS="--log-level debug".
RUN_ARGS ?=

.PHONY: all deps deps-build deps-test build run test test-short chaos bench lint install clean

all: build

# install_missing: apt-get install the packages of $(1) that are not installed.
define install_missing
@missing=""; for p in $(1); do \
  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
done; \
if [ -n "$$missing" ]; then \
  echo "installing:$$missing"; \
  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
fi
endef

## deps: install every missing Debian package, for the build and the tests (needs root or sudo)
deps: deps-build deps-test

## deps-build: only what the build needs: $(DEB_BUILD)
deps-build:
	$(call install_missing,$(DEB_BUILD))

## deps-test: the test peers: $(DEB_TEST)
deps-test:
	$(call install_missing,$(DEB_TEST))

## build: bin/kloros-observer, bin/intentctl, bin/chembus
build: deps-build
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

## run: build and run the daemon in the foreground (embedded ChemBus proxy if none is running)
run: build
	./$(BIN)/kloros-observer $(RUN_ARGS)

## test: every test, against real peers (journald, ZeroMQ, HTTP, node_exporter, python3-zmq); actors and supervision again under -race
test: deps-build deps-test
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 9m ./...
	$(GO) test -race -count=1 -timeout 5m ./actors/... ./supervision/...

## chaos: the full chaos campaign (test/chaos, as root: ≥ 1,000 kill -9s, tmpfs, floods); `make test` runs its short form
chaos: deps-build deps-test
	set -o pipefail; $(GO) test -count=1 -timeout 120m -v -run 'TestChaos' ./test/chaos/ -args -chaos.full 2>&1 | tee test/chaos/last-run.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok)|RESULT|VmHWM'

## bench: benchmarks into bench/new.txt (compare runs with benchstat)
bench: deps-build deps-test
	$(GO) test -run '^$$' -bench . -benchmem -count 6 -timeout 60m ./bench/ | tee bench/new.txt

## install: binaries, man pages, bash/zsh/fish completions, systemd units, sample config, the kloros user (as root; DESTDIR= stages)
install: build
	GO_LDFLAGS="$(LDFLAGS)" deploy/install.sh

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf $(BIN)
