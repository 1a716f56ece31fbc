# Thin wrapper: the build is CMake, the set-up is scripts/setup.sh.
#   make run    set up, build build/osprey, run it on packaging/examples/local.json
#   make test   set up, build with ASan+UBSan and run every ctest, then TSan
#   make bench  set up, build a release tree and run the benchmarks

JOBS ?= $(shell nproc)
BUILD ?= build

.PHONY: all setup build run test bench format check-format clean

all: build

setup:
	@./scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target osprey

run: build
	./$(BUILD)/osprey --config packaging/examples/local.json

test: setup
	@./scripts/test.sh

bench: setup
	@./bench/run.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

check-format:
	@./scripts/check-format.sh

clean:
	rm -rf build build-asan build-tsan build-bench osprey-out osprey-state
