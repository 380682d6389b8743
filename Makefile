# voxelgate — the two commands: `make run` and `make test`. See README.md.
BUILD_DIR ?= build
DATA_DIR  ?= var
LISTEN    ?= 127.0.0.1:8080
NPM_FLAGS := --no-audit --no-fund --loglevel=error

.PHONY: all bootstrap configure build web run test unit-test integration-test e2e-test bench clean

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD_DIR)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

configure: bootstrap $(BUILD_DIR)/build.ninja

build: configure web
	cmake --build $(BUILD_DIR) -j $$(nproc)

# The browser app (web/), built into web/dist, which the server serves at /.
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci $(NPM_FLAGS)

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run --silent build

web: bootstrap web/dist/index.html

tests/integration/node_modules/.package-lock.json: tests/integration/package-lock.json
	cd tests/integration && npm ci $(NPM_FLAGS)

tests/e2e/node_modules/.package-lock.json: tests/e2e/package-lock.json
	cd tests/e2e && npm ci $(NPM_FLAGS)

run: build
	@scripts/run-demo $(BUILD_DIR)/voxelgate $(DATA_DIR) $(LISTEN)

test: build tests/integration/node_modules/.package-lock.json tests/e2e/node_modules/.package-lock.json
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 1200

unit-test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L unit

integration-test: build tests/integration/node_modules/.package-lock.json
	cd $(BUILD_DIR) && ctest --output-on-failure -L integration

e2e-test: build tests/e2e/node_modules/.package-lock.json
	cd $(BUILD_DIR) && ctest --output-on-failure -L e2e

bench: build
	bench/run

clean:
	rm -rf $(BUILD_DIR)
