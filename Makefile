# Central Hub — build, test, lint, demo and benchmarks over the go.work modules.
GO       ?= go
MODULES  := pkg agent hub
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build static images test lint tidy demo bench clean

all: build

build:
	@mkdir -p bin
	$(GO) build -trimpath -ldflags '$(LDFLAGS) -X github.com/centralhub/centralhub/hub/internal/app.Version=$(VERSION)' -o bin/hub ./hub/cmd/hub
	$(GO) build -trimpath -ldflags '$(LDFLAGS) -X github.com/centralhub/centralhub/agent/internal/app.Version=$(VERSION)' -o bin/agent ./agent/cmd/agent

# What the container images copy: static binaries (CGO off) with the Dockerfiles' flags.
static:
	@mkdir -p bin/static
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS) -X github.com/centralhub/centralhub/hub/internal/app.Version=$(VERSION)' -o bin/static/hub ./hub/cmd/hub
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS) -X github.com/centralhub/centralhub/agent/internal/app.Version=$(VERSION)' -o bin/static/agent ./agent/cmd/agent

# Container images centralhub/hub:$(VERSION) and centralhub/agent:$(VERSION) (deploy/docker),
# where a Docker engine answers.
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
images:
	@docker info >/dev/null 2>&1 || { echo "make images: no Docker engine here (docker info failed); the Dockerfiles were not built" >&2; exit 1; }
	docker build -f deploy/docker/hub.Dockerfile -t centralhub/hub:$(VERSION) --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) .
	docker build -f deploy/docker/agent.Dockerfile -t centralhub/agent:$(VERSION) --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) .

# Every module's tests with the race detector. CI=true turns skips for missing servers or tools
# into failures.
test:
	@set -e; for m in $(MODULES); do echo "== go test $$m"; (cd $$m && $(GO) test -race -count=1 -timeout 12m ./...); done

lint:
	@set -e; out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do echo "== vet + staticcheck $$m"; (cd $$m && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...); done

tidy:
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) mod tidy); done

# A hub in dev mode and agents beside small demo services; prints the URL and an admin token.
demo: build
	$(GO) run ./hub/cmd/demo --bin bin

# Benchmarks: Go micro-benchmarks compared with benchstat, and load from a second process.
bench: build
	bash scripts/bench.sh

# Soak: 1,000 simulated agents against a hub on PostgreSQL for 30 minutes (SOAK_AGENTS,
# SOAK_DURATION); fails on a lost report, and rewrites docs/soak.png and only the soak section
# of docs/BENCHMARKS.md.
.PHONY: soak
soak: build
	bash scripts/soak.sh

clean:
	rm -rf bin .demo .bench
