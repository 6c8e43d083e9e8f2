# The two set-up commands of README.md. Both install the Debian dependencies (only what is missing),
# configure and build with the `release` preset; `run` runs the default scenario, `test` every test.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= $(shell nproc)

.PHONY: run test build deps configure bench format tidy clean

deps:
	@scripts/install-deps

configure: deps
	@cmake --preset $(PRESET) >/dev/null

build: configure
	@cmake --build --preset $(PRESET) -j $(JOBS)

run: build
	@$(BUILD_DIR)/apps/k2sim/k2sim run scenarios/default.toml --out out/default

test: build
	@ctest --preset $(PRESET) -j $(JOBS)

bench:
	@scripts/install-deps --bench
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS) --target k2sim_bench
	@build/release/bench/k2sim_bench

format:
	@find include src apps tests bench fuzz -name '*.hpp' -o -name '*.cpp' | xargs clang-format -i

tidy: configure
	@find src apps -name '*.cpp' | xargs clang-tidy -p $(BUILD_DIR) --quiet

clean:
	rm -rf build out
