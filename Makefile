# voxelgate — the two commands: `make run` and `make test`. See README.md.
BUILD_DIR ?= build
DATA_DIR  ?= var
LISTEN    ?= 127.0.0.1:8080
NPM_FLAGS := --no-audit --no-fund --loglevel=error

.PHONY: all bootstrap configure build run test unit-test integration-test bench clean

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD_DIR)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

configure: bootstrap $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $$(nproc)

tests/integration/node_modules/.package-lock.json: tests/integration/package-lock.json
	cd tests/integration && npm ci $(NPM_FLAGS)

run: build
	@scripts/run-demo $(BUILD_DIR)/voxelgate $(DATA_DIR) $(LISTEN)

test: build tests/integration/node_modules/.package-lock.json
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 1200

unit-test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L unit

integration-test: build tests/integration/node_modules/.package-lock.json
	cd $(BUILD_DIR) && ctest --output-on-failure -L integration

bench: build
	bench/run

clean:
	rm -rf $(BUILD_DIR)
