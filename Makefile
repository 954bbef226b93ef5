# Parley's commands. `make run`, `make test` and `make bench` need nothing
# installed or started by hand: scripts/ installs PostgreSQL and Redis where
# it can and starts private instances (make run: PostgreSQL only).

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN      := bin/parley
LINT     := bin/golangci-lint
LINT_VERSION := v2.15.0
FUZZTIME ?= 30s

export GOFLAGS := -buildvcs=false

.PHONY: all build web web-check web-unit test-web run cluster cluster-stop test check fmt lint vet depcheck openapi-lint unit fuzz bench bench-web clean

all: build

## build: the web app, then bin/parley with it embedded. (A plain `go build`
## works without Node: the binary then serves a page saying the app is missing.)
build: web
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/parley

WEB_DEPS := web/node_modules/.installed

$(WEB_DEPS): web/package.json web/package-lock.json
	@scripts/ensure-node.sh
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## web: builds the web app (web/) into static/app, which the binary embeds.
web: $(WEB_DEPS)
	cd web && npm run --silent build

## web-check: the web app's type check, linter and formatter check (Biome).
web-check: $(WEB_DEPS)
	cd web && npm run --silent lint

## web-unit: unit tests of the web app's client logic (sync, tokens, outbox).
web-unit: $(WEB_DEPS)
	cd web && npm run --silent test

## test-web: the browser tests alone, in headless Chromium against a real server.
test-web: build
	scripts/with-test-services.sh scripts/test-web.sh $(BIN)

## run: a development server on http://localhost:8080 with a private PostgreSQL under .data/.
run: build
	scripts/run.sh $(BIN)

## cluster: two instances, a worker, PostgreSQL, Redis and nginx on this
## machine, in the background; prints the URL. cluster-stop ends it.
cluster: build
	scripts/cluster.sh start $(BIN)

cluster-stop:
	scripts/cluster.sh stop

## test: every check, then the test suite and each fuzz target against real PostgreSQL and Redis,
## started once for both.
test: check web-check web-unit build
	scripts/with-test-services.sh sh -c '$(UNIT) && $(FUZZ) && scripts/test-web.sh $(BIN)'

## check: formatting, go mod tidy, vet, linters, dependency rules and the OpenAPI lint.
check: fmt vet lint depcheck openapi-lint

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff

vet:
	$(GO) vet ./...

$(LINT):
	GOBIN=$(CURDIR)/bin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(LINT_VERSION)

lint: $(LINT)
	$(LINT) run --allow-parallel-runners ./...

depcheck:
	scripts/depcheck.sh

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

openapi-lint: node_modules/.installed
	npx --no-install redocly lint openapi.yaml

UNIT = $(GO) test -race -count=1 ./...
FUZZ = scripts/fuzz.sh $(FUZZTIME)

unit:
	scripts/with-test-services.sh $(UNIT)

fuzz:
	scripts/with-test-services.sh $(FUZZ)

## bench: REST load compared with pgbench replaying the same SQL, then the
## WebSocket load across two instances. Both run even if the first misses a
## target; the exit status says whether every target was met.
bench: build
	@rest=0; ws=0; \
	bench/bench.sh $(BIN) || rest=$$?; \
	bench/bench-ws.sh $(BIN) || ws=$$?; \
	[ $$rest -eq 0 ] && [ $$ws -eq 0 ]

## bench-web: the web app's figures: gzipped JavaScript of the first load,
## navigation to the first message shown, scrolling through 5,000 messages.
bench-web: build
	WEB_SUITE=bench scripts/with-test-services.sh scripts/test-web.sh $(BIN)

clean:
	rm -rf bin node_modules web/node_modules
