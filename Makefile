# The two commands a fresh machine needs (README): `make demo` and `make test`.
# Both install what is missing, build, and run; both are idempotent.

SWIFT      ?= swift
CONFIG     ?= release
BUILD_ARGS  = -c $(CONFIG)
BIN         = $(shell $(SWIFT) build $(BUILD_ARGS) --show-bin-path)

# The `sandbox` binary users run: one static position-independent executable (glibc, libstdc++,
# libseccomp, libcap and the Swift runtime inside; ASLR kept). No dynamic loader runs at start:
# 0.8 ms of `sandbox run`'s ~6 (bench-launcher.sh). Its own scratch path, because these flags
# would otherwise rebuild everything for the tests; static PIE start-up refuses an rpath.
STATIC_ARGS = -c $(CONFIG) --scratch-path .build/static --disable-local-rpath \
              -Xswiftc -static-executable -Xswiftc -Xclang-linker -Xswiftc -static-pie -Xswiftc -use-ld=lld
SANDBOX_DIR = .build/static/$(CONFIG)

# Debian packages the build, the tests, the demo and the benchmarks use.
DEB_PACKAGES = libseccomp-dev libcap-dev pkg-config iproute2 iputils-ping tcpdump tshark \
               iperf3 busybox-static bubblewrap slirp4netns nginx-light sockperf wrk socat \
               curl dnsutils gcc libc6-dev python3 util-linux strace podman containerd

# The peers only the benchmarks run: pasta (passt) beside slirp4netns, gVisor's runsc beside bwrap.
BENCH_PACKAGES = passt runsc

.PHONY: deps build test demo bench fuzz clean format format-check install man

deps:
	@./scripts/install-deps.sh $(DEB_PACKAGES)

# The product: $(SANDBOX_DIR)/sandbox.
build: deps
	$(SWIFT) build $(STATIC_ARGS) --product sandbox

# Unit, property and interop tests (Swift Testing), then the shell end-to-end suites, which
# drive the binary `make build` makes.
test: build
	$(SWIFT) build $(BUILD_ARGS) --build-tests
	# Swift Testing records a backtrace for every thrown error; the mutation tests throw millions.
	SWT_SWIFT_ERROR_BACKTRACING_ENABLED=0 $(SWIFT) test $(BUILD_ARGS) --skip-build
	./scripts/e2e.sh "$(SANDBOX_DIR)"

demo: build
	./scripts/demo.sh "$(SANDBOX_DIR)/sandbox"

bench: build
	@./scripts/install-deps.sh $(BENCH_PACKAGES)
	$(SWIFT) build $(BUILD_ARGS)
	./scripts/bench.sh "$(BIN)" "$(SANDBOX_DIR)/sandbox"

clean:
	rm -rf .build

# Manual pages (mdoc), one per command (`man sandbox.run`), generated from the argument
# parser's own description of the binary by swift-argument-parser's generate-manual tool.
MAN_DIR = .build/man
man:
	$(SWIFT) build -c release --product generate-manual
	rm -rf "$(MAN_DIR)" && mkdir -p "$(MAN_DIR)"
	"$$($(SWIFT) build -c release --show-bin-path)/generate-manual" "$(SANDBOX_DIR)/sandbox" --multi-page \
	    --output-directory "$(MAN_DIR)"

# `make build` first (as root the build installs packages; an install need not). The binary,
# its manual pages and the shell completions under PREFIX (DESTDIR for staging, as packagers
# use it).
PREFIX ?= /usr/local
install: man
	install -D -m 755 "$(SANDBOX_DIR)/sandbox" "$(DESTDIR)$(PREFIX)/bin/sandbox"
	install -d "$(DESTDIR)$(PREFIX)/share/man/man1"
	install -m 644 "$(MAN_DIR)"/*.1 "$(DESTDIR)$(PREFIX)/share/man/man1/"
	install -d "$(DESTDIR)$(PREFIX)/share/bash-completion/completions" \
	    "$(DESTDIR)$(PREFIX)/share/zsh/site-functions" "$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d"
	"$(SANDBOX_DIR)/sandbox" completion bash > "$(DESTDIR)$(PREFIX)/share/bash-completion/completions/sandbox"
	"$(SANDBOX_DIR)/sandbox" completion zsh > "$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_sandbox"
	"$(SANDBOX_DIR)/sandbox" completion fish > "$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/sandbox.fish"

# The code's one format (.swift-format; swift-format ships with the Swift toolchain). CI runs
# format-check, so run `make format` before committing.
FORMAT_PATHS = Sources Tests Benchmarks Package.swift
format:
	$(SWIFT) format format --in-place --recursive $(FORMAT_PATHS)

format-check:
	$(SWIFT) format lint --strict --recursive $(FORMAT_PATHS)

# Every fuzz target for FUZZ_SECONDS each (scripts/fuzz.sh --list).
FUZZ_SECONDS ?= 600
fuzz:
	@for target in $$(scripts/fuzz.sh --list | awk '{print $$1}'); do scripts/fuzz.sh $$target $(FUZZ_SECONDS) || exit 1; done
