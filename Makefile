# kloros-observer — see README.md. Quick start: `make run`, `make test`.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X github.com/kloros/kloros-observer/supervision.version=$(VERSION)

# Debian packages the build and the tests need (the tests start real peers).
DEB_PKGS := libzmq3-dev libsystemd-dev pkg-config python3-zmq systemd systemd-journal-remote \
            prometheus-node-exporter prometheus dbus

# Extra flags for `make run`, e.g. make run RUN_ARGS="--log-level debug".
RUN_ARGS ?=

.PHONY: all deps build run test test-short bench lint install clean

all: build

## deps: install the Debian packages that are missing (needs root or sudo)
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

## build: bin/kloros-observer, bin/intentctl, bin/chembus
build: deps
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

## run: build and run the daemon in the foreground (embedded ChemBus proxy if none is running)
run: build
	./$(BIN)/kloros-observer $(RUN_ARGS)

## test: every test, against real peers (journald, ZeroMQ, HTTP, node_exporter, python3-zmq); actors and supervision again under -race
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 9m ./...
	$(GO) test -race -count=1 -timeout 5m ./actors/... ./supervision/...

## bench: benchmarks into bench/new.txt (compare runs with benchstat)
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -count 6 -timeout 60m ./bench/ | tee bench/new.txt

## install: binaries, systemd units, sample config, the kloros user (as root; DESTDIR= stages)
install: build
	deploy/install.sh

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf $(BIN)
