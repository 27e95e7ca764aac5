# The commands CI and developers run. `make test` is what .ci/run runs.
GO ?= go
# Modules besides the root one: their own go.mod keeps their dependencies
# (hashicorp/raft, raft-wal, raft-boltdb) out of the library's.
MODULES := compat $(wildcard wal/bench)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME ?= 10s

.PHONY: test vet race lint fuzz bench

# test: go vet, then the tests of every package under the race detector.
test: vet race

vet:
	$(GO) vet ./...
	for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

race:
	$(GO) test -race ./...
	for m in $(MODULES); do (cd $$m && $(GO) test -race ./...) || exit 1; done
	# The 1 GiB snapshot install runs at full size only without -race.
	$(GO) test -run '^TestInstallLargeSnapshotBoundedMemory$$' .

# lint: formatting, vet and staticcheck.
lint: vet
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

# fuzz: a short run of every fuzz target (FUZZTIME each).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run XXX -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# bench: the package benchmarks, with allocations.
bench:
	$(GO) test -run XXX -bench . -benchmem ./...
