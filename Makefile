# Thin wrapper: the build is CMake, the set-up is scripts/setup.sh.
#   make run    set up, build build/osprey, run it on packaging/examples/local.json
#   make test   set up, build with ASan+UBSan and run every ctest, then TSan
#   make bench  set up, build a release tree and run the benchmarks
#   make package  set up, build build/osprey_<version>_<arch>.deb (CPack, Debian package)

JOBS ?= $(shell nproc)
BUILD ?= build

.PHONY: all setup build run test bench package format check-format clean

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

# Only the agent is built for the package (CMAKE_SKIP_INSTALL_ALL_DEPENDENCY: the install
# step does not build the tests and benchmarks); the prefix is the package's, /usr.
package: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
		-DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target osprey
	@cmake --build $(BUILD) --target package

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

check-format:
	@./scripts/check-format.sh

clean:
	rm -rf build build-asan build-tsan build-bench osprey-out osprey-state
