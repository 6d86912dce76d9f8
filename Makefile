# Edgeway: `make help` lists the targets. `make run` runs the whole platform locally,
# `make test` installs what the tests need and runs every test.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-print-directory

GO              ?= go
FUZZTIME        ?= 10s
DATA            ?= .data
DEVSTACK_FLAGS  ?=
MAILPIT_VERSION := v1.27.11
MOTO_VERSION    := 5.2.5
TOOLS_BIN       := $(CURDIR)/.tools/bin
# apt-get runs as root, or through sudo for a normal user.
SUDO            := $(if $(filter 0,$(shell id -u)),,sudo)
export DEBIAN_FRONTEND := noninteractive

.PHONY: help build generate run lint deps deps-apt deps-postgres deps-npm deps-mailpit deps-moto \
	test test-go test-e2e fuzz bench migrate clean distclean

help: ## Show the targets and what they do
	@echo "Usage: make TARGET [VAR=value]"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "Variables: FUZZTIME=$(FUZZTIME) DATA=$(DATA) DEVSTACK_FLAGS='$(DEVSTACK_FLAGS)'"

build: ## Build every command into bin/ (bff, edge, agent, devstack)
	$(GO) build -o bin/ ./cmd/...

generate: ## Regenerate the templ components (*_templ.go)
	$(GO) tool templ generate

run: build deps-postgres ## Build, then run the whole platform locally (PostgreSQL under DATA, bff, edges, mail)
	@$(MAKE) deps-mailpit || echo "run: mailpit could not be installed; running without mail"
	bin/devstack -data $(DATA) $(DEVSTACK_FLAGS)

lint: ## Check formatting (gofmt, generated *_templ.go excluded) and run go vet
	@files=$$(find . \( -path ./node_modules -o -path ./.tools -o -path ./.venv -o -path ./.data -o -path ./bin -o -path ./.git \) -prune \
		-o -name '*.go' ! -name '*_templ.go' -print | xargs -r gofmt -l); \
	if [ -n "$$files" ]; then echo "lint: gofmt would change these files (run gofmt -w):"; echo "$$files"; exit 1; fi
	$(GO) vet ./...
	cd third_party/yamux && $(GO) vet .

deps: deps-apt deps-npm deps-mailpit deps-moto ## Install what the tests need (idempotent): Chromium, PostgreSQL, npm packages, mailpit, moto
	@echo "deps: all present"

deps-apt: ## Install Chromium and the PostgreSQL server from Debian's packages when missing
	@pkgs=""; \
	if [ -x /usr/bin/chromium ]; then echo "deps: chromium present"; else pkgs="$$pkgs chromium"; fi; \
	if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then echo "deps: postgresql present"; else pkgs="$$pkgs postgresql"; fi; \
	if [ -n "$$pkgs" ]; then \
		for attempt in 1 2; do \
			echo "deps: apt-get install$$pkgs (attempt $$attempt)"; \
			if $(SUDO) apt-get update -qq -o DPkg::Lock::Timeout=300 && $(SUDO) apt-get install -y -qq -o DPkg::Lock::Timeout=300$$pkgs; then break; fi; \
			if [ $$attempt = 2 ]; then echo "deps: apt-get install$$pkgs failed"; exit 1; fi; \
			sleep 5; \
		done; \
	fi

deps-postgres: ## Install the PostgreSQL server from Debian's packages when missing
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then echo "deps: postgresql present"; else \
		for attempt in 1 2; do \
			echo "deps: apt-get install postgresql (attempt $$attempt)"; \
			if $(SUDO) apt-get update -qq -o DPkg::Lock::Timeout=300 && $(SUDO) apt-get install -y -qq -o DPkg::Lock::Timeout=300 postgresql; then break; fi; \
			if [ $$attempt = 2 ]; then echo "deps: apt-get install postgresql failed"; exit 1; fi; \
			sleep 5; \
		done; \
	fi

deps-npm: node_modules/.package-lock.json ## Install the npm packages (htmx, Playwright) when node_modules is stale
	@echo "deps: node_modules up to date"

node_modules/.package-lock.json: package.json $(wildcard package-lock.json)
	@if [ -f package-lock.json ]; then echo "deps: npm ci"; npm ci --no-audit --no-fund; \
	else echo "deps: npm install (no package-lock.json)"; npm install --no-audit --no-fund; fi
	@touch $@

deps-mailpit: $(TOOLS_BIN)/mailpit ## Install mailpit (local SMTP server) into .tools/bin when missing
	@echo "deps: mailpit present"

$(TOOLS_BIN)/mailpit:
	@echo "deps: go install github.com/axllent/mailpit@$(MAILPIT_VERSION) (about a minute)"
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/axllent/mailpit@$(MAILPIT_VERSION)

deps-moto: .venv/bin/moto_server ## Install the AWS emulator (moto server) into .venv when missing
	@echo "deps: moto present"

.venv/bin/moto_server:
	@echo "deps: python3 -m venv .venv && pip install 'moto[server]==$(MOTO_VERSION)'"
	@[ -x .venv/bin/python ] || python3 -m venv .venv
	.venv/bin/python -m pip install --quiet --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)'
	@test -x $@ || { echo "deps: moto installed but $@ is missing"; exit 1; }

test: deps ## Install what is needed, then run the Go tests and the Playwright suite
	@rc=0; \
	$(MAKE) test-go || rc=1; \
	$(MAKE) test-e2e || rc=1; \
	if [ $$rc != 0 ]; then echo "test: FAILED (see above)"; fi; \
	exit $$rc

test-go: ## Run the Go tests with -race on one throw-away PostgreSQL (or EDGEWAY_TEST_DATABASE_URL), then the patched yamux suite
	@if [ -n "$${EDGEWAY_TEST_DATABASE_URL:-}" ]; then \
		echo "test-go: using EDGEWAY_TEST_DATABASE_URL"; \
		$(GO) test -race -count=1 ./...; \
	else \
		$(GO) build -o bin/devstack ./cmd/devstack; \
		env -u DATABASE_URL bin/devstack -ephemeral -pg-only -- $(GO) test -race -count=1 ./...; \
	fi
	@echo "test-go: the patched yamux (third_party/yamux, its own module)"
	cd third_party/yamux && $(GO) test -race -short -count=1 .

test-e2e: ## Run the Playwright suite against the real processes (its setup builds and starts bin/devstack)
	npx playwright test

fuzz: ## Run every fuzz target briefly (FUZZTIME=10s each)
	@pkgs=$$(grep -rl --include='*_test.go' -E '^func Fuzz[A-Z0-9_]' . 2>/dev/null \
		| grep -v -e '^./node_modules/' -e '^./.tools/' | xargs -r -n1 dirname | sort -u); \
	if [ -z "$$pkgs" ]; then echo "fuzz: no fuzz targets"; exit 0; fi; \
	for pkg in $$pkgs; do \
		for target in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
			echo "fuzz: $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

bench: ## Run the benchmarks, then the tunnel comparison (bench-tunnel)
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@$(MAKE) bench-tunnel

.PHONY: bench-tunnel frp

bench-tunnel: build frp ## Compare TCP/HTTP through edge+agent, frp and direct, then 10,000 idle sessions on one edge (separate processes; TUNNELBENCH_FLAGS)
	bin/tunnelbench $(TUNNELBENCH_FLAGS)
	bin/tunnelbench -sessions 10000

frp: ## Build frps/frpc v0.68.1 into .tools/bin (scratch module in .tools/frp-build, not go.mod)
	@if [ -x $(TOOLS_BIN)/frps ] && [ -x $(TOOLS_BIN)/frpc ]; then echo "frp: present"; else \
		mkdir -p .tools/frp-build && cd .tools/frp-build && \
		{ [ -f go.mod ] || $(GO) mod init scratch; } && \
		$(GO) get -tool github.com/fatedier/frp/cmd/frps@v0.68.1 github.com/fatedier/frp/cmd/frpc@v0.68.1 && \
		GOBIN=$(TOOLS_BIN) $(GO) install -tags noweb tool; \
	fi

migrate: build ## Apply the migrations to DATABASE_URL, or to the local cluster under DATA
	@if [ -n "$${DATABASE_URL:-}" ]; then bin/bff migrate; \
	else bin/devstack -data $(DATA) -pg-only -- bin/bff migrate; fi

clean: ## Remove build and test output (keeps DATA, tools and node_modules)
	rm -rf bin test-results playwright-report e2e/.stack

distclean: clean ## Also remove the local data (DATA), .tools, .venv and node_modules
	rm -rf $(DATA) .tools .venv node_modules
