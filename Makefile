# unifiedetl — the two commands a newcomer types are `make demo` and `make test`.
# Every target sets up what it needs, idempotently.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
STAMP_DIR   := $(VENV)/.stamps
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# The emulator needs no account: fixed fake credentials, and never the EC2 metadata service.
export AWS_ACCESS_KEY_ID     ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export AWS_DEFAULT_REGION    ?= us-east-1
export AWS_EC2_METADATA_DISABLED := true
# Terraform must not phone home (tests talk only to 127.0.0.1).
export CHECKPOINT_DISABLE := 1
# The emulator answers as AWS does in the seconds after a change (IAM propagation, reads that
# lag, CREATING/Pending states, DMS connection tests, throttling): tests/emulator/README.md,
# "Realism". EMULATOR_REALISM=0 turns it off.
export EMULATOR_REALISM ?= 1

# Where cargo puts what it builds, wherever that is (CARGO_TARGET_DIR, a .cargo/config.toml
# build.target-dir, or target/): cargo metadata says.
TARGET_DIR       := $(or $(shell cargo metadata --format-version 1 --no-deps 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null),$(CARGO_TARGET_DIR),target)
# `make build` (.ci/release.py --build-only): this machine's provider, function and local tools,
# each as <HOST_BUILD>/<name>/bootstrap; the function packages for arm64 and x86_64 in
# $(TARGET_DIR)/lambda/ and $(TARGET_DIR)/lambda-x86_64/.
HOST_BUILD       := $(TARGET_DIR)/host
EMULATOR_PORT    ?= 4566

.PHONY: help
help:
	@echo "make demo           set up, build, start the emulator, apply examples/quickstart"
	@echo "make demo-down      destroy the demo's pipeline and stop the emulator"
	@echo "make test           set up and run every test"
	@echo "make build          build the provider, the function (both packages) and the local tools"
	@echo "make install        build this machine's release zip and unpack it into the local filesystem mirror"
	@echo "make release        dist/: the Registry's zips for linux_amd64 and linux_arm64, SHA256SUMS, signature, manifest"
	@echo "make emulator       start the local AWS emulator on 127.0.0.1:$(EMULATOR_PORT)"
	@echo "make emulator-stop  stop it"
	@echo "make lint           cargo fmt --check and clippy -D warnings"
	@echo "make docs           regenerate docs/ from the schema's descriptions (CI fails when it is stale)"
	@echo "make bench          the persist function against its targets (lambda/bench/README.md), then bench-provider"
	@echo "make bench-provider apply/plan of examples/complete with 100 ms per AWS call: rounds, calls"
	@echo "make fuzz           bounded cargo-fuzz runs of the record decoder (lambda/fuzz/README.md)"
	@echo "make bench-e2e      synthetic orders through the local pipeline: latency, throughput, CPU and requests per record, exactly-once check"
	@echo "make bench-emulator requests per second of the emulator's DynamoDB, per operation and table size"

# ---------------------------------------------------------------- setup
.PHONY: setup
setup: $(STAMP_DIR)/protoc $(STAMP_DIR)/python $(STAMP_DIR)/rust-target

$(STAMP_DIR)/protoc:
	@mkdir -p $(STAMP_DIR)
	@command -v protoc >/dev/null || { \
	  echo "installing protobuf-compiler (needed by tf-provider's build)"; \
	  (apt-get update -qq && apt-get install -y -qq protobuf-compiler) >/dev/null || \
	  { echo "could not install protoc: run 'sudo apt-get install protobuf-compiler'"; exit 1; }; }
	@touch $@

$(STAMP_DIR)/python: tests/emulator/requirements.txt tests/emulator/moto-tests.txt lambda/requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	@mkdir -p $(STAMP_DIR)
	$(PY) -m pip install -q -r tests/emulator/requirements.txt -r lambda/requirements.txt
	$(PY) -m pip download -q --no-deps --no-binary :all: --require-hashes \
	  -r tests/emulator/moto-tests.txt -d $(VENV)/moto-sdist
	@touch $@

$(STAMP_DIR)/rust-target:
	@mkdir -p $(STAMP_DIR)
	rustup target add aarch64-unknown-linux-gnu x86_64-unknown-linux-gnu
	@touch $@

# ---------------------------------------------------------------- build
TF_PLATFORM := $(shell uname -s | tr A-Z a-z)_$(shell uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')

.PHONY: build install release
# Everything `make demo` and the tests run, in two cargo invocations (cargo-lambda + zig, no
# Docker, glibc 2.26 as on Lambda): for this machine, the provider, the function and the local
# tools at once, one feature set; then the function for the other Lambda architecture. Each step
# says what it builds and about how long is left.
build: setup
	$(PY) .ci/release.py --build-only

# dist/ as the Terraform Registry publishes it (.ci/release.py): a zip per platform holding the
# provider and both function packages, the manifest, SHA256SUMS and its signature (the key of
# GPG_FINGERPRINT, or GNUPGHOME's default).
RELEASE_ARGS ?=
release: setup
	$(PY) .ci/release.py $(RELEASE_ARGS)

# This machine's release zip, unpacked into Terraform's implied local mirror
# (~/.terraform.d/plugins) for registry.terraform.io and registry.opentofu.org: a plain
# `terraform init` (or `tofu init`) then finds it offline.
install: setup
	$(PY) .ci/release.py --platform $(TF_PLATFORM) --install $(HOME)/.terraform.d/plugins

# ---------------------------------------------------------------- emulator
.PHONY: emulator emulator-stop
emulator: setup
	tests/emulator/ctl.sh start $(EMULATOR_PORT)

emulator-stop:
	tests/emulator/ctl.sh stop $(EMULATOR_PORT)

# ---------------------------------------------------------------- demo
QUICKSTART := examples/quickstart

.PHONY: demo demo-down quickstart-up bench-e2e
TF_OUT = cd $(QUICKSTART) && terraform output -raw
LOCAL  = $(HOST_BUILD)/unifiedetl-local/bootstrap
LOCAL_ARGS = --endpoint-url http://127.0.0.1:$(EMULATOR_PORT) \
	  --binary $(HOST_BUILD)/unifiedetl-lambda/bootstrap \
	  --function "$$($(TF_OUT) persist_function_name)" \
	  --sink "$$($(TF_OUT) sink_table)"

# The provider is a local build: its checksum changes with every build, so the (uncommitted)
# lock file of the last run is dropped before init instead of refusing the new build.
quickstart-up: install emulator
	rm -f $(QUICKSTART)/.terraform.lock.hcl
	cd $(QUICKSTART) && terraform init -upgrade -input=false >/dev/null
	cd $(QUICKSTART) && terraform apply -auto-approve -input=false -var endpoint_url=http://127.0.0.1:$(EMULATOR_PORT)
	@cd $(QUICKSTART) && if terraform plan -detailed-exitcode -input=false -var endpoint_url=http://127.0.0.1:$(EMULATOR_PORT) >/dev/null; \
	  then echo "plan after apply: no changes"; else echo "plan after apply is not empty" >&2; exit 1; fi

# Applies the quickstart, then streams the sample's orders through it: the runner invokes the
# real function on the CDC stream with the mapping's settings, the lake fork writes the raw
# records to the lake bucket (the emulator's Firehose does not read Kinesis). `make install`
# built the function for this machine and the local tools with the provider.
demo: quickstart-up
	$(LOCAL) demo $(LOCAL_ARGS) --delivery-stream "$$($(TF_OUT) lake_delivery_stream)"
	@echo
	@echo "The pipeline runs on the emulator at http://127.0.0.1:$(EMULATOR_PORT)."
	@echo "Explore it with any AWS tool (AWS_ENDPOINT_URL=http://127.0.0.1:$(EMULATOR_PORT)); stop it with 'make demo-down'."

# The sample's test shape through the local pipeline, reported beside the sample's 900 ms
# average: by default 1,000 orders x 5 items loaded at a steady 100 CDC records/s (about a
# minute and a half). The sample's own million items: BENCH_E2E_ARGS="--orders 200000 --items 5
# --rate 100" (hours on this emulator; lambda/local/README.md). Without --rate the load goes as
# fast as the stream takes it: the pipeline's throughput.
BENCH_E2E_ARGS ?= --orders 1000 --items 5 --rate 100
bench-e2e: quickstart-up
	$(LOCAL) bench-e2e $(LOCAL_ARGS) --no-lake $(BENCH_E2E_ARGS)
	@pid=$$(cat .emulator/emulator-$(EMULATOR_PORT).pid 2>/dev/null) && \
	  awk '/^VmHWM/ {printf "%-35s%.1f GiB since it started\n", "emulator memory, peak RSS", $$2 / 1048576}' /proc/$$pid/status || true

demo-down:
	-cd $(QUICKSTART) && terraform destroy -auto-approve -input=false -var endpoint_url=http://127.0.0.1:$(EMULATOR_PORT) >/dev/null
	tests/emulator/ctl.sh stop $(EMULATOR_PORT)

# ---------------------------------------------------------------- test
.PHONY: test test-emulator test-sql test-rust lint
test: setup build lint test-emulator test-sql test-rust

test-emulator: setup
	$(PY) -m pytest tests/emulator -q -p no:cacheprovider

# The SQL files against a real MariaDB that the tests start on 127.0.0.1.
test-sql: setup
	tests/sql/ensure-mariadb.sh
	$(PY) -m pytest tests/sql -q -p no:cacheprovider

# The engine's oracle test runs the SQL files in a private MariaDB too.
test-rust: setup build
	tests/sql/ensure-mariadb.sh
	cargo test --workspace

lint: setup
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	python3 tests/acyclic.py provider/src lambda/src

# ---------------------------------------------------------------- docs
# docs/ in the Terraform Registry layout, generated from the provider schema; `make test`
# fails when the committed docs are stale.
.PHONY: docs
docs: setup build
	UNIFIEDETL_UPDATE_DOCS=1 cargo test -p unifiedetl-e2e --test e2e docs::

# ---------------------------------------------------------------- benchmark and fuzzing
# Not tests: `make bench` prints a table (BENCH_ARGS, e.g. --check to fail on a missed target),
# then the provider's (PROVIDER_BENCH_ARGS: --repeats N, --check); `make fuzz` runs each fuzz
# target for FUZZ_SECONDS.
NODE_SINK    := lambda/bench/node-sink
BENCH_ARGS   ?=
PROVIDER_BENCH_ARGS ?=
FUZZ_SECONDS ?= 60
CARGO_FUZZ_VERSION := 0.13.2

.PHONY: bench bench-provider bench-emulator fuzz
bench: build $(NODE_SINK)/node_modules/.package-lock.json
	cargo build --release -p unifiedetl-lambda-bench
	$(TARGET_DIR)/release/unifiedetl-lambda-bench --binary $(HOST_BUILD)/unifiedetl-lambda/bootstrap $(BENCH_ARGS)
	$(MAKE) --no-print-directory bench-provider

# The release provider (as `make build` builds it) through a proxy adding 100 ms to every AWS
# call: `terraform apply` and `plan` of examples/complete in rounds beside a no-op
# configuration, and the calls (docs/benchmarks.md, "Provider speed"). The emulator's realism layer is
# off: the benchmark measures the provider's own rounds, not AWS's settling. The bench program itself is
# built like the tests (`--workspace`, dev profile), so after `make test` only it compiles.
bench-provider: build
	EMULATOR_REALISM=0 cargo bench --workspace --profile dev --bench provider_speed -- \
	  --provider $(abspath $(HOST_BUILD))/terraform-provider-unifiedetl/bootstrap $(PROVIDER_BENCH_ARGS)

# Requests per second of the emulator's DynamoDB for the operations the function makes, at the
# table sizes the benchmarks reach, beside moto's own TransactWriteItems (EMULATOR_BENCH_ARGS).
EMULATOR_BENCH_ARGS ?= --moto-transactions
bench-emulator: setup
	$(PY) tests/emulator/bench_dynamodb.py $(EMULATOR_BENCH_ARGS)

# The Node.js reference sink (the sample's way), pinned by its package-lock.json.
$(NODE_SINK)/node_modules/.package-lock.json: $(NODE_SINK)/package-lock.json
	@command -v npm >/dev/null || { echo "make bench needs Node.js >= 20 and npm"; exit 1; }
	npm ci --prefix $(NODE_SINK) --no-audit --no-fund --loglevel=error

# libFuzzer + AddressSanitizer on stable rustc (RUSTC_BOOTSTRAP lets it take -Zsanitizer).
fuzz:
	@cargo fuzz --version 2>/dev/null | grep -q $(CARGO_FUZZ_VERSION) || cargo install cargo-fuzz --locked --version $(CARGO_FUZZ_VERSION)
	mkdir -p lambda/fuzz/corpus/decode_record lambda/fuzz/corpus/decode_structured
	cd lambda && RUSTC_BOOTSTRAP=1 cargo fuzz run decode_record fuzz/corpus/decode_record fuzz/seeds/decode_record \
	  -- -dict=fuzz/decode_record.dict -max_total_time=$(FUZZ_SECONDS)
	cd lambda && RUSTC_BOOTSTRAP=1 cargo fuzz run decode_structured fuzz/corpus/decode_structured \
	  -- -max_total_time=$(FUZZ_SECONDS)
