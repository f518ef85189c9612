# The two commands of the README:
#   make serve   installs what is missing, builds, creates ./data on first run, starts the server
#   make test    installs what is missing, builds, runs every test (what .ci/run runs)
BUILD ?= build
DATA ?= data
JOBS ?= $(shell nproc)
BASTION = $(BUILD)/src/cli/bastion

.PHONY: all build serve test unit integration bench clean

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

bench: build
	scripts/install-deps.sh bench
	bench/ingest.sh

clean:
	rm -rf $(BUILD)
