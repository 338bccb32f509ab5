# ctiws — build, run and test. `make test` is what CI runs (.ci/run); it
# installs what a fresh Debian machine with Go lacks (redis-server, chromium,
# the npm test clients) and starts and stops its own throwaway servers.

GO        ?= go
BIN       := bin/ctiws
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
E2E_DIR   := ws/e2e
BROWSER_DIR := ws/e2e-browser
CONSOLE_DIR := console/e2e-browser
FUZZTIME  ?= 5s
# Asterisk and pjproject sources for the real-PBX suite (docs/real-pbx.md).
THIRD_PARTY ?= ../shared/third-party
ASTERISK_TARBALL := $(THIRD_PARTY)/asterisk-22.10.1.tar.gz
# Debian packages the real-PBX suite needs: Asterisk's build, SIPp, prompts.
ASTERISK_DEBS := build-essential libedit-dev libjansson-dev libxml2-dev uuid-dev libsqlite3-dev libssl-dev bzip2 \
	sip-tester asterisk-core-sounds-en-gsm

.PHONY: all build run test test-fresh unit soak-short soak realpbx deps-asterisk e2e e2e-browser e2e-console fuzz lint deps-redis deps-npm deps-chromium helm-check image-build bench bench-traffic clean

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/ctiws

# One node, embedded in-memory backend, simulated PBX generating traffic.
run: build
	./$(BIN) serve -config cmd/ctiws/demo/config.yaml

test: lint deps-redis deps-npm deps-chromium build unit soak-short realpbx fuzz e2e e2e-browser e2e-console helm-check image-build
	@echo "make test: all suites passed"

# make test as a fresh machine runs it: a fresh clone, env -i, a new HOME and
# TMPDIR, no XDG_RUNTIME_DIR, no caches (scripts/fresh-test.sh). Before every stop.
test-fresh:
	bash scripts/fresh-test.sh

unit:
	$(GO) test -race -count=1 -timeout 10m ./...

# The chaos soak's short schedule (about 90 s): 3 nodes, Redis with
# Sentinel and the simulated PBX under traffic while the owner is cut off
# Redis, its AMI link goes half-open, the clients stall past the ping
# timeout, two nodes restart and the Redis master fails over; it fails on
# any wrong final state, mask error or double owner (docs/operations.md,
# "Chaos soak", section 7.8). Logs are kept only when it fails.
soak-short: build deps-redis
	@logs=$$(mktemp -d); \
	./$(BIN) bench -scenario soak -duration 90s -log-dir $$logs; rc=$$?; \
	if [ $$rc -eq 0 ]; then rm -rf $$logs; else echo "soak-short failed: logs in $$logs"; fi; exit $$rc

# The hour of chaos of docs/benchmarks.md ("Chaos soak"); SOAK_DURATION
# changes its length.
SOAK_DURATION ?= 1h
soak: build deps-redis
	./$(BIN) bench -scenario soak -duration $(SOAK_DURATION)

# The real-PBX suite: Asterisk built from $(THIRD_PARTY) into a cache outside
# the clone (scripts/asterisk-build.sh; the first build takes minutes, later
# runs reuse it), SIPp phones, two nodes and Redis, every flow live
# (cmd/ctiws/realpbx_test.go). Without the sources it says so and skips;
# with them a failed build fails the run. RECORD=1 rewrites the captures.
realpbx: build deps-redis
	@if [ ! -f $(ASTERISK_TARBALL) ]; then \
		echo "realpbx: SKIPPED TestRealPBX: no $(ASTERISK_TARBALL) (docs/real-pbx.md says how to obtain the sources)"; exit 0; fi; \
	$(MAKE) --no-print-directory deps-asterisk && \
	prefix=$$(scripts/asterisk-build.sh $(THIRD_PARTY)) && \
	CTIWS_ASTERISK_PREFIX=$$prefix $(GO) test -race -count=1 -timeout 10m ./internal/asterisk ./internal/sipp && \
	CTIWS_ASTERISK_PREFIX=$$prefix $(GO) test -race -count=1 -timeout 15m -run 'TestRealPBX$$' ./cmd/ctiws $(if $(RECORD),-args -record)

deps-asterisk:
	@missing=$$(for p in $(ASTERISK_DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing $$missing (Debian packages)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

# Each fuzz target runs briefly (scripts/fuzz.sh says how a toolchain flake
# is told from a finding); the seed corpora also run in `unit`.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh \
		./ws/eio:FuzzDecode ./ami:FuzzParse ./ami/sim:FuzzParseTranscript ./ami:FuzzAction \
		./pbx:FuzzValidNumber ./pbx:FuzzNormaliseNumber ./cmd/ctiws:FuzzRESTToAMI ./internal/clip:FuzzString \
		./cmd/ctiws/internal/loadclient:FuzzParseFrame ./ws:FuzzReadFrames

# The suite runs with its own TMPDIR, which must hold no ctiws-e2e-* folder
# (config, demo htpasswd, JWT secret) afterwards, pass or fail.
e2e: build deps-npm
	@tmp=$$(mktemp -d); \
	(cd $(E2E_DIR) && TMPDIR=$$tmp CTIWS_BIN=$(CURDIR)/$(BIN) node --test --test-concurrency=1 ./*.test.mjs); rc=$$?; \
	left=$$(ls $$tmp | grep '^ctiws-e2e-'); rm -rf $$tmp; \
	if [ -n "$$left" ]; then echo "e2e left temporary folders behind: $$left"; exit 1; fi; exit $$rc

# The real phone-island widget in headless Chromium, both API modes
# (ws/e2e-browser/README.md). Screenshots: ws/e2e-browser/output/.
e2e-browser: build deps-npm deps-chromium
	@tmp=$$(mktemp -d); \
	(cd $(BROWSER_DIR) && TMPDIR=$$tmp CTIWS_BIN=$(CURDIR)/$(BIN) CHROMIUM=$$(command -v chromium) node --test --test-concurrency=1 ./*.test.mjs); rc=$$?; \
	left=$$(ls -A $$tmp); rm -rf $$tmp; \
	if [ -n "$$left" ]; then echo "e2e-browser left temporary files behind: $$left"; exit 1; fi; exit $$rc

# The operator console in headless Chromium: three nodes on a three-master
# Redis Cluster (console/e2e-browser/README.md). Screenshots:
# console/e2e-browser/output/. Like e2e-browser, it must leave TMPDIR empty.
e2e-console: build deps-redis deps-npm deps-chromium
	@tmp=$$(mktemp -d); \
	(cd $(CONSOLE_DIR) && TMPDIR=$$tmp CTIWS_BIN=$(CURDIR)/$(BIN) CHROMIUM=$$(command -v chromium) node --test --test-concurrency=1 ./*.test.mjs); rc=$$?; \
	left=$$(ls -A $$tmp); rm -rf $$tmp; \
	if [ -n "$$left" ]; then echo "e2e-console left temporary files behind: $$left"; exit 1; fi; exit $$rc

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 ./internal/doccheck   # citations resolve inside the repository

# redis-server from Debian's packages, when missing. The Sentinel tests run it as
# `redis-server --sentinel` (no separate redis-sentinel package needed).
deps-redis:
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "installing redis-server (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
	@redis-server --version

deps-npm:
	@cd $(E2E_DIR) && { [ -d node_modules/socket.io-client ] && npm ls --silent >/dev/null 2>&1 || npm ci --no-audit --no-fund --silent; }
	@cd $(BROWSER_DIR) && { [ -d node_modules/@nethesis/phone-island ] && npm ls --silent >/dev/null 2>&1 || npm ci --no-audit --no-fund --silent; }
	@cd $(CONSOLE_DIR) && { [ -d node_modules/playwright-core ] && npm ls --silent >/dev/null 2>&1 || npm ci --no-audit --no-fund --silent; }

# chromium from Debian's packages, when missing (driven by playwright-core).
deps-chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@chromium --headless --no-sandbox --version 2>/dev/null || chromium --version

helm-check:
	@if [ -f tools/helm-check.sh ]; then bash tools/helm-check.sh; else echo "helm-check: no chart yet"; fi

# The Containerfile's build stage as a plain script: a static binary.
image-build:
	bash tools/build-static.sh bin/ctiws-static
	@./bin/ctiws-static version
	@if ldd bin/ctiws-static >/dev/null 2>&1; then echo "bin/ctiws-static is not static"; exit 1; fi

# Quick benchmark set (≤ 5 minutes); the full set is in docs/benchmarks.md.
bench: build deps-redis
	./$(BIN) bench -scenario quick

# Issue 16's real-traffic set with its verdicts (about 10 minutes): 3 nodes
# + Redis, 1,000 × 100/s, 5,000 × 20/s and 10,000 × 10/s (3 runs each),
# then idle memory at 10,000 sockets (docs/benchmarks.md).
bench-traffic: build deps-redis
	./$(BIN) bench -scenario traffic

clean:
	rm -rf bin
