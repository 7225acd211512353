SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO ?= go
BIN := bin/boxoffice
# 2026.2.2; builds with Go 1.26. `go run pkg@version` keeps it out of go.mod.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# Ports used by scripts/services.sh too, so that overriding them moves everything.
BOXOFFICE_PG_PORT ?= 5432
BOXOFFICE_REDIS_PORT ?= 6379
export BOXOFFICE_PG_PORT BOXOFFICE_REDIS_PORT

DATABASE_URL ?= postgres://postgres@127.0.0.1:$(BOXOFFICE_PG_PORT)/boxoffice?sslmode=disable
REDIS_URL ?= redis://127.0.0.1:$(BOXOFFICE_REDIS_PORT)/0
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:$(BOXOFFICE_PG_PORT)/postgres?sslmode=disable
TEST_REDIS_URL ?= redis://127.0.0.1:$(BOXOFFICE_REDIS_PORT)/0
export DATABASE_URL REDIS_URL TEST_DATABASE_URL TEST_REDIS_URL

# The tests run stripe-mock from PATH; go install puts it in GOBIN or GOPATH/bin.
GO_BIN_DIR := $(or $(shell $(GO) env GOBIN),$(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin)
export PATH := $(GO_BIN_DIR):$(PATH)

# axe-core checks every page in the browser tests (e2e/). It comes from the npm
# registry into .cache/ (git-ignored) and is never committed.
AXE_VERSION := 4.14.1
AXE_JS := .cache/axe-core-$(AXE_VERSION)/axe.min.js
export AXE_CORE_JS := $(CURDIR)/$(AXE_JS)

# The Go files to format-check: everything but dot directories (.services holds
# the local database), bin/, vendor/, testdata/ and node_modules/.
GO_FILES_CMD := find . -mindepth 1 \( -name '.*' -o -name bin -o -name vendor -o -name testdata -o -name node_modules \) -prune -o -type f -name '*.go' -print0

.PHONY: all build run test nginx-check rehearse-day lint fmt-check vet staticcheck fmt bench services services-stop clean

all: build

build:
	$(GO) build -o $(BIN) .

# Local services, a dev secret and the demo organizer's password (each made once
# under .services/ unless set in the environment), demo data, then the server
# (the binary creates the database if missing and migrates it).
run:
	scripts/services.sh
	$(GO) build -o $(BIN) .
	@mkdir -p .services; umask 077; \
	[[ -s .services/secret ]] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >.services/secret; \
	[[ -s .services/organizer-password ]] || head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >.services/organizer-password; \
	export BOXOFFICE_SECRET="$${BOXOFFICE_SECRET:-$$(cat .services/secret)}"; \
	export BOXOFFICE_ORGANIZER_EMAIL="$${BOXOFFICE_ORGANIZER_EMAIL:-organizer@boxoffice.example}"; \
	export BOXOFFICE_ORGANIZER_PASSWORD="$${BOXOFFICE_ORGANIZER_PASSWORD:-$$(cat .services/organizer-password)}"; \
	$(BIN) demo; \
	exec $(BIN) serve

test: $(AXE_JS)
	scripts/services.sh --stripe-mock --chromium --nginx
	$(MAKE) --no-print-directory lint
	scripts/nginx-check.sh --skip-if-missing
	$(GO) test -race -count=1 -timeout 9m ./...
	scripts/redis-cluster.sh test
	scripts/rehearse-day.sh --skip-if-missing
	REDIS=cluster scripts/rehearse-day.sh --skip-if-missing

$(AXE_JS):
	@command -v npm >/dev/null || { echo "npm is needed to fetch axe-core for the browser tests: apt-get install npm"; exit 1; }
	@mkdir -p $(@D)
	cd $(@D) && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null && \
		tar -xzf axe-core-$(AXE_VERSION).tgz package/axe.min.js && mv package/axe.min.js . && \
		rm -rf package axe-core-$(AXE_VERSION).tgz

# deploy/nginx.conf in front of two real replicas (under a minute); REPLICAS=3 for three.
nginx-check:
	scripts/services.sh --nginx
	scripts/nginx-check.sh

# An on-sale through nginx and three replicas, one killed mid-sale, on one
# Redis and then on a Redis Cluster (under a minute each); FANS, TICKETS and the
# other settings are in scripts/rehearse-day.sh.
rehearse-day:
	scripts/services.sh --nginx
	scripts/rehearse-day.sh
	REDIS=cluster scripts/rehearse-day.sh

lint: fmt-check vet staticcheck

fmt-check:
	@unformatted="$$($(GO_FILES_CMD) | xargs -0 -r gofmt -l)"; \
	if [[ -n "$$unformatted" ]]; then \
		echo "gofmt needed (run make fmt) on:"; echo "$$unformatted"; exit 1; \
	fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

fmt:
	$(GO_FILES_CMD) | xargs -0 -r gofmt -w

# The figures of docs/BENCHMARKS.md, each with the settings it was measured with.
bench: $(AXE_JS)
	scripts/services.sh --stripe-mock --chromium
	$(GO) test -count=1 -run '^$$' -bench 'JoinQueue|EchoBaseline' -benchtime 10s ./web/
	$(GO) test -count=1 -run '^$$' -bench AdmissionStep -benchtime 200x ./queue/
	REALTIME_FANOUT_N=19000 $(GO) test -count=1 -run '^$$' -bench Fanout -benchtime 20x -timeout 15m ./realtime/
	$(GO) test -count=1 -run '^$$' -bench ReserveContention -benchtime 20000x ./booking/
	$(GO) test -count=1 -run '^$$' -bench SellOutDemo -benchtime 1x -timeout 10m ./web/
	$(GO) test -count=1 -run TestWaitingRoomWeight -v ./e2e/

# Start the local services / stop the ones scripts/services.sh started itself
# from .services/ (servers that were already running are left alone).
services:
	scripts/services.sh

services-stop:
	scripts/services.sh --stop

# Build outputs only: .services/ keeps the local database and the dev secret.
clean:
	rm -rf bin/ coverage.out coverage.html *.test
