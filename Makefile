# The two commands of the README:
#   make serve   installs what is missing, builds, creates ./data on first run, starts the server
#   make test    installs what is missing, builds, runs every test (what .ci/run runs)
BUILD ?= build
DATA ?= data
JOBS ?= $(shell nproc)
BASTION = $(BUILD)/src/cli/bastion

.PHONY: all build serve test unit integration sanitize bench clean

all: build

build:
	scripts/install-deps.sh build
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j$(JOBS)

serve:
	scripts/install-deps.sh serve
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j$(JOBS) --target bastion
	@[ -f $(DATA)/bastion.toml ] || $(BASTION) init --data $(DATA)
	$(BASTION) serve --data $(DATA)

test:
	scripts/install-deps.sh test
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j$(JOBS)
	cd $(BUILD) && ctest --output-on-failure --timeout 900 -j2

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

integration: build
	cd $(BUILD) && ctest --output-on-failure -L integration

# Every test again against an AddressSanitizer + UBSan build (slower; not part of `make test`).
sanitize:
	scripts/install-deps.sh test
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DBASTION_SANITIZE=address,undefined
	cmake --build build-asan -j$(JOBS)
	cd build-asan && UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ctest --output-on-failure --timeout 900

bench: build
	scripts/install-deps.sh bench
	bench/ingest.sh

clean:
	rm -rf $(BUILD) build-asan
