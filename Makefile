# crmgw: one obvious way to run things.
GO ?= go
PKGS := ./...

.PHONY: all build test test-short test-chart lint demo bench bench-load pgo fuzz clean

all: lint test

## build: bin/crmgw with its version and commit (crmgw version prints them)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/crmgw ./cmd/crmgw

## test: the full test suite (race detector on, every go vet analyzer);
## needs redis-server on PATH. -vet=all runs the whole of go vet inside
## go test, on the race build's type information: a separate go vet would
## compile every dependency (OPA most of all) a second time, which on a
## cold cache doubled the time of .ci/run (5 of its 11 minutes).
test:
	$(GO) test -race -vet=all -count=1 $(PKGS)

test-short:
	$(GO) test -count=1 $(PKGS)

## test-chart: lint and render the Helm chart (deploy/helm/crmgw) with Helm's
## Go packages and check the manifests; a module of its own, so Helm's
## Kubernetes dependencies stay out of the gateway's build and of ./...
test-chart:
	cd deploy/helm/charttest && $(GO) test -count=1 ./...

## lint: gofmt, go vet, and the Rego policies' own tests
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	SF_TOKEN=lint CRMGW_HMAC_KEY=lint-hmac-key-0123456 $(GO) run ./cmd/crmgw validate --config examples/quickstart/crmgw.yaml

## demo: sample CRM + OIDC issuer + gateway on loopback, prints curl lines
demo:
	$(GO) run ./examples/demo

## bench: micro-benchmarks of every stage
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## bench-load: gateway vs direct over loopback (see docs/performance.md):
## the gateways under test built with the product's profile
## (cmd/crmgw/default.pgo, as `go build ./cmd/crmgw` is), the load generator
## and the sample CRM without it. ARGS: more loadbench flags.
bench-load:
	$(GO) build -pgo=off -o bin/loadbench-world ./examples/loadbench
	$(GO) run -pgo=cmd/crmgw/default.pgo ./examples/loadbench -world bin/loadbench-world $(ARGS)

## pgo: profile the full pipeline under make bench-load's load (30 s, a
## build without a profile) into cmd/crmgw/default.pgo, the profile
## `go build ./cmd/crmgw` optimises with
pgo:
	$(GO) run -pgo=off ./examples/loadbench -only crmgw -rounds 1 -warmup 2s -duration 30s -cpuprofile cmd/crmgw/default.pgo

clean:
	rm -rf bin
