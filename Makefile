# The two commands of the README, and the few around them.
#   make demo   install what is missing, build, start PostgreSQL and serve
#   make check  the same set-up, then every test through ctest
#   make check-citus  the suites that matter on a Citus cluster (ctest -L citus)
.PHONY: all deps web build demo check check-build check-citus fuzz bench clean

JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60

all: build

deps:
	@packaging/deps.sh build

# The NL Design System CSS (npm, pinned by web/package-lock.json) copied
# into static/vendor/; redone when the lockfile changes.
VENDOR_CSS = static/vendor/utrecht/index.css

web: $(VENDOR_CSS)

$(VENDOR_CSS): web/package.json web/package-lock.json packaging/web.sh
	@packaging/web.sh

build: deps web
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j $(JOBS) -- --no-print-directory -s

demo: build
	@packaging/demo.sh

# The test build: AddressSanitizer and UndefinedBehaviorSanitizer.
check-build:
	@packaging/deps.sh check
	@$(MAKE) --no-print-directory web
	@cmake -S . -B build-check -DCMAKE_BUILD_TYPE=Debug -DAANTAFEL_SANITIZE=ON >/dev/null
	@cmake --build build-check -j $(JOBS) -- --no-print-directory -s

# The release build too: it is what `make demo` runs. Every test runs,
# the label citus (a cluster of three servers per suite, Citus built once
# from ../shared/vendor into ~/.cache/aantafel) among them; without Citus's
# source those are skipped and the line below says so. `make check-citus`
# runs only that label.
check: check-build build
	@cd build-check && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)
	@packaging/citus.sh available >/dev/null 2>&1 || \
	  echo "check: the Citus suites were skipped: its source is not there (AANTAFEL_CITUS_TARBALL)"

check-citus: check-build
	@cd build-check && ctest --output-on-failure -L citus $(CTEST_ARGS)

# libFuzzer targets (clang), each run for FUZZ_SECONDS on its seed corpus.
fuzz:
	@packaging/deps.sh check
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAANTAFEL_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) -- --no-print-directory -s
	@for f in build-fuzz/tests/fuzz/fuzz_*; do \
	  case $$f in *_replay) continue;; esac; \
	  name=$$(basename $$f); mkdir -p build-fuzz/corpus/$$name; \
	  echo "== $$name for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    build-fuzz/corpus/$$name tests/fuzz/corpus/$$name || exit 1; \
	done

bench: build
	@for b in bench/*.sh; do echo "== $$b"; $$b || exit 1; done

clean:
	rm -rf build build-check build-fuzz web/node_modules static/vendor
