# The README's two commands are `make demo` and `make test`; .ci/run calls `make test` and
# `make package-test`.
GO      ?= go
PKGS    ?= ./...
# pipefail: a failing `go test` must fail the target even though its output is piped.
SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -c

BUILDINFO := github.com/nsai/ingot-top/internal/buildinfo
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE      ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
BRANCH    ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null)
LDFLAGS   := -s -w -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).commit=$(COMMIT) \
	-X $(BUILDINFO).date=$(DATE) -X $(BUILDINFO).branch=$(BRANCH)

.PHONY: demo test deps vet build fuzz bench clean assets notices package package-test

demo: build
	./bin/ingot-top demo

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ingot-top ./cmd/ingot-top

deps:
	./scripts/install-test-deps.sh

# staticcheck is pinned and built from the module proxy, so CI needs nothing preinstalled.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

# gofmt is given the source folders, never an empty list: with no arguments it reads stdin.
vet:
	@unformatted=$$(gofmt -l cmd internal scripts); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

# Everything: installs test dependencies where it can, vets, then runs every test with the
# race detector. Tests whose real parts are missing (Prometheus, tmux, zsh, fish) skip, and
# the summary at the end lists each with its reason; in CI (CI=true) a missing part fails.
# -timeout bounds every package, so a stuck test ends the run with its goroutines dumped.
test: deps vet
	$(GO) build -o bin/testsummary ./scripts/testsummary
	CI=$${CI:-} $(GO) test -race -count=1 -timeout 20m -json $(PKGS) 2>&1 | ./bin/testsummary

# Every fuzz target in turn, FUZZTIME each (default 30s); see scripts/fuzz-all.sh.
fuzz:
	./scripts/fuzz-all.sh

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=1s ./internal/...

# The shell completions and the man page, generated from the binary (packaging/generated/).
assets:
	./packaging/gen-assets.sh $(VERSION) $(COMMIT) $(DATE)

# THIRD_PARTY_NOTICES, from go list -deps and the module cache.
notices:
	./packaging/gen-notices.sh

# Archives, deb and rpm in dist/, with the pinned goreleaser (installed if missing).
package:
	./scripts/package-test.sh --build-only

# Builds the packages, installs the amd64 deb and checks what it installed: --version, the
# systemd units, the man page, the completions, a daemon's /metrics through promtool.
package-test:
	./scripts/package-test.sh

clean:
	rm -rf bin dist packaging/generated
