# The README's two commands are `make demo` and `make test`; .ci/run calls `make test`.
GO      ?= go
PKGS    ?= ./...
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -s -w -X github.com/nsai/ingot-top/internal/buildinfo.version=$(VERSION)

.PHONY: demo test deps vet build fuzz bench clean

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
	@unformatted=$$(gofmt -l cmd internal); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

# Everything: installs test dependencies, vets, then runs every test with the race detector.
test: deps vet
	CI=$${CI:-} $(GO) test -race -count=1 -timeout 20m $(PKGS)

# Every fuzz target in turn, FUZZTIME each (default 30s); see scripts/fuzz-all.sh.
fuzz:
	./scripts/fuzz-all.sh

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=1s ./internal/...

clean:
	rm -rf bin dist
