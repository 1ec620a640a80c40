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

PROVIDER_VERSION := 0.1.0
LAMBDA_TARGET    := aarch64-unknown-linux-gnu
LAMBDA_ZIP       := target/lambda/unifiedetl-lambda/bootstrap.zip
EMULATOR_PORT    ?= 4566

.PHONY: help
help:
	@echo "make demo           set up, build, start the emulator, apply examples/quickstart"
	@echo "make test           set up and run every test"
	@echo "make install        build and install the provider into the local filesystem mirror"
	@echo "make emulator       start the local AWS emulator on 127.0.0.1:$(EMULATOR_PORT)"
	@echo "make emulator-stop  stop it"
	@echo "make lint           cargo fmt --check and clippy -D warnings"

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

$(STAMP_DIR)/python: tests/emulator/requirements.txt lambda/requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	@mkdir -p $(STAMP_DIR)
	$(PY) -m pip install -q -r tests/emulator/requirements.txt -r lambda/requirements.txt
	@touch $@

$(STAMP_DIR)/rust-target:
	@mkdir -p $(STAMP_DIR)
	rustup target add $(LAMBDA_TARGET)
	@touch $@
