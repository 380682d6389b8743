# voxelgate — the two commands: `make run` and `make test`. See README.md.
BUILD_DIR ?= build
DATA_DIR  ?= var
LISTEN    ?= 127.0.0.1:8080
NPM_FLAGS := --no-audit --no-fund --loglevel=error

FUZZ_SECONDS   ?= 60
FUZZ_BUILD_DIR ?= build-fuzz
ASAN_BUILD_DIR ?= build-asan
FUZZ_CC        := clang-19
FUZZ_CXX       := clang++-19

.PHONY: all bootstrap configure build web run deb test unit-test integration-test e2e-test bench clean fuzz test-asan

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD_DIR)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

configure: bootstrap $(BUILD_DIR)/build.ninja

build: configure web
	cmake --build $(BUILD_DIR) -j $$(nproc)

# The browser app (web/), built into web/dist, which the server serves at /.
WEB_SOURCES := $(shell find web/src -type f -not -name schema.ts 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json docs/openapi.json

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

# The Debian package: build/voxelgate_VERSION_amd64.deb (cmake/package.cmake says how).
deb: build
	cd $(BUILD_DIR) && cpack -G DEB

# PostgreSQL and an S3 start once for the whole run (scripts/with-engines).
test: build tests/integration/node_modules/.package-lock.json tests/e2e/node_modules/.package-lock.json
	cd $(BUILD_DIR) && ../scripts/with-engines ctest --output-on-failure --timeout 1200

unit-test: build
	cd $(BUILD_DIR) && ../scripts/with-engines ctest --output-on-failure -L unit

integration-test: build tests/integration/node_modules/.package-lock.json
	cd $(BUILD_DIR) && ../scripts/with-engines ctest --output-on-failure -L integration

e2e-test: build tests/e2e/node_modules/.package-lock.json
	cd $(BUILD_DIR) && ctest --output-on-failure -L e2e

bench: build
	bench/run

# libFuzzer on every parser of outside input (fuzz/targets.h), FUZZ_SECONDS each (default
# 60), under ASan and UBSan, in a clang build of its own. A finding fails the run.
fuzz: bootstrap
	CC=$(FUZZ_CC) CXX=$(FUZZ_CXX) cmake -S . -B $(FUZZ_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVG_FUZZ=ON
	cmake --build $(FUZZ_BUILD_DIR) -j $$(nproc)
	scripts/fuzz $(FUZZ_BUILD_DIR) $(FUZZ_SECONDS)

# The product built with -fsanitize=address,undefined: the unit tests and the integration
# suites that feed parsers and the server's request handling, on the sanitized server.
test-asan: bootstrap web tests/integration/node_modules/.package-lock.json
	cmake -S . -B $(ASAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVG_SANITIZE=ON
	cmake --build $(ASAN_BUILD_DIR) -j $$(nproc)
	cd $(ASAN_BUILD_DIR) && ../scripts/with-engines ctest --output-on-failure --timeout 1200 -L 'unit|sanitized' -LE web

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_BUILD_DIR) $(ASAN_BUILD_DIR)
