# jan — common tasks. `make test` is the whole suite (CI runs it).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
# goreleaser, pinned in tools/go.mod (a module of its own: see there).
GORELEASER := $(GO) tool -modfile=tools/go.mod goreleaser

# Packages with goroutines run under the race detector; the rest run plain
# (modernc SQLite is slow under -race and has no goroutines of ours).
RACE_PKGS := ./internal/server/... ./internal/inference/... ./internal/auth/... ./internal/fakeengine/... ./internal/client/... ./internal/tui/... ./internal/stack/... ./internal/safetext/... ./internal/proc/... ./internal/progress/...

.PHONY: run build test bench lint fuzz release-snapshot release-check
run:
	$(GO) run ./cmd/jan up --embedded

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/jan ./cmd/jan

# Every archive, package, the image and the Homebrew cask into dist/,
# nothing published.
release-snapshot:
	$(GORELEASER) release --snapshot --clean --skip=publish,sign

# release-snapshot, then what a user installs is checked (CI runs it): the
# binary's version, the archives, the cask, the .deb installed (as root with
# CI=true), the image running.
release-check:
	scripts/release-check.sh

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 $(RACE_PKGS)
	$(GO) test -count=1 $(shell $(GO) list ./... | grep -v -e /internal/server -e /internal/inference -e /internal/auth -e /internal/fakeengine -e /internal/client -e /internal/tui -e /internal/stack -e /internal/safetext -e /internal/proc -e /internal/progress)

# make bench BENCHFLAGS=-quick for a smoke run; see docs/BENCHMARKS.md.
bench:
	$(GO) run ./cmd/jan-bench $(BENCHFLAGS)
	$(GO) test -run '^$$' -bench . -benchtime 2000x ./internal/store/ ./internal/auth/
	$(GO) test -run '^$$' -bench 'BenchmarkAuthenticate|BenchmarkMetricsCost' -benchtime 20000x ./internal/server/
	$(GO) test -run '^$$' -bench 'BenchmarkCrossReplicaCancel' -benchtime 100x ./internal/server/
	$(GO) test -run '^$$' -bench 'BenchmarkRunCheckpointWAL' -benchtime 2x ./internal/server/
	JAN_PERF=1 $(GO) test -count=1 -run 'TestChatPerformance|TestPerformanceBudgets|TestStackPerformance' -v ./cmd/jan/ ./internal/tui/ | grep -v '^=== '

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $$($(GO) list ./... | grep -v /internal/third_party/) # copies of other projects' code stay as they wrote it

# Longer fuzzing than the seed corpus that `make test` runs.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzEventReader -fuzztime 30s ./internal/inference/
	$(GO) test -run '^$$' -fuzz FuzzParseChatRequest -fuzztime 30s ./internal/server/
