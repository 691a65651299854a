# The two commands a fresh machine needs (README): `make demo` and `make test`.
# Both install what is missing, build, and run; both are idempotent.

SWIFT      ?= swift
CONFIG     ?= release
BUILD_ARGS  = -c $(CONFIG)
BIN         = $(shell $(SWIFT) build $(BUILD_ARGS) --show-bin-path)

# Debian packages the build, the tests, the demo and the benchmarks use.
DEB_PACKAGES = libseccomp-dev libcap-dev pkg-config iproute2 iputils-ping tcpdump tshark \
               iperf3 busybox-static bubblewrap slirp4netns nginx-light sockperf wrk socat \
               curl dnsutils gcc libc6-dev python3 util-linux strace

# The peers only the benchmarks run: pasta (passt) beside slirp4netns, gVisor's runsc beside bwrap.
BENCH_PACKAGES = passt runsc

.PHONY: deps build test demo bench fuzz clean

deps:
	@./scripts/install-deps.sh $(DEB_PACKAGES)

# The Swift runtime linked statically: the dynamic loader's symbol lookups were a third of
# `sandbox run`'s start-up (bench-launcher: 2.5x bwrap dynamic, 1.8x static).
build: deps
	$(SWIFT) build $(BUILD_ARGS) --static-swift-stdlib

# Unit, property and interop tests (Swift Testing), then the shell end-to-end suites.
test: deps
	$(SWIFT) build $(BUILD_ARGS) --build-tests
	# Swift Testing records a backtrace for every thrown error; the mutation tests throw millions.
	SWT_SWIFT_ERROR_BACKTRACING_ENABLED=0 $(SWIFT) test $(BUILD_ARGS) --skip-build
	./scripts/e2e.sh "$(BIN)"

demo: build
	./scripts/demo.sh "$(BIN)/sandbox"

bench: build
	@./scripts/install-deps.sh $(BENCH_PACKAGES)
	./scripts/bench.sh "$(BIN)"

clean:
	rm -rf .build
