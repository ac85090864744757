# MLSpec developer targets. `make help` lists them. Everything installs itself into .venv
# on first use, so `make test` and `make serve` work on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUF := $(VENV)/bin/buf
STAMP := $(VENV)/.installed
# Exact versions of everything in .venv (refresh with `make lock`).
CONSTRAINTS := python/constraints-dev.txt
# The lowest protobuf runtime the generated package supports; `make test-compat` runs the
# contract tests against it (the main venv holds the newest release).
PROTOBUF_MIN := 6.31.1
COMPAT_VENV := .venv-protobuf-min
THIRD_PARTY := build/third_party
GOOGLE_API_PROTOS := field_behavior.proto resource.proto
GEN_CHECK := build/gen-check
AREAS = $(notdir $(wildcard proto/mlspec/*))

.PHONY: help setup lock third-party generate check-generate lint format breaking typecheck test test-compat serve demo bench clean

help: ## Show this help.
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: $(STAMP) third-party ## Create .venv and install the package with its development tools.

$(STAMP): python/pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e 'python[dev]'
	touch $@

lock: ## Re-resolve the development tools to their newest releases and pin them in python/constraints-dev.txt.
	rm -rf build/lock-venv
	$(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/python -m pip install --quiet -e 'python[dev]'
	{ sed -n '1,3p' $(CONSTRAINTS); build/lock-venv/bin/pip freeze --exclude-editable | grep -v '^[#-]'; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf build/lock-venv
	@echo "pinned $$(grep -vc '^#' $(CONSTRAINTS)) packages; run 'make test' before committing"

third-party: $(STAMP) ## Copy the google.api annotation protos from googleapis-common-protos into build/.
	@site=$$($(PY) -c 'import os, google.api.field_behavior_pb2 as m; print(os.path.dirname(m.__file__))'); \
	mkdir -p $(THIRD_PARTY)/google/api; \
	for f in $(GOOGLE_API_PROTOS); do cp "$$site/$$f" $(THIRD_PARTY)/google/api/$$f; done

generate: setup ## Regenerate the Python code (messages, .pyi stubs, gRPC stubs) from proto/.
	$(BUF) generate proto
	@for d in $$(find python/src/mlspec -name '*_pb2.py' -printf '%h\n' | sort -u); do \
	  p=$$d; while [ "$$p" != python/src ]; do [ -f $$p/__init__.py ] || touch $$p/__init__.py; p=$$(dirname $$p); done; \
	done

check-generate: setup ## Fail if the committed generated code differs from what proto/ produces.
	rm -rf $(GEN_CHECK) && mkdir -p $(GEN_CHECK)
	sed 's#out: python/src#out: $(GEN_CHECK)#' buf.gen.yaml > build/buf.gen.check.yaml
	$(BUF) generate proto --template build/buf.gen.check.yaml
	@status=0; for area in $(AREAS); do \
	  diff -r -q -x __init__.py -x __pycache__ -x py.typed $(GEN_CHECK)/mlspec/$$area python/src/mlspec/$$area || status=1; \
	done; \
	if [ $$status -ne 0 ]; then echo "generated code is stale: run 'make generate' and commit"; exit 1; fi
	@echo "generated code is up to date"

lint: setup ## buf lint, buf format check, ruff, and the import contracts of .importlinter.
	$(BUF) lint proto
	$(BUF) format -d --exit-code proto
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: setup ## Rewrite .proto and Python files in the house format.
	$(BUF) format -w proto
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

breaking: setup ## buf breaking (FILE) against the main branch.
	rm -rf build/against && mkdir -p build/against/build
	git archive main | tar -x -C build/against
	cp -r $(THIRD_PARTY) build/against/build/
	cd build/against && $(CURDIR)/$(BUF) build proto -o $(CURDIR)/build/against.binpb
	$(BUF) breaking proto --against build/against.binpb

typecheck: setup ## mypy --strict on the hand-written code, tools and tests.
	$(VENV)/bin/mypy

test: setup check-generate lint typecheck ## Run every gate and test (contract tests also on the lowest protobuf).
	$(PY) -m pytest
	$(MAKE) --no-print-directory test-compat

test-compat: setup ## Run the contract tests under the lowest supported protobuf ($(PROTOBUF_MIN)).
	@[ -x $(COMPAT_VENV)/bin/python ] || $(PYTHON) -m venv $(COMPAT_VENV)
	@mkdir -p build && grep -E '^(pytest|hypothesis|PyYAML|pluggy|iniconfig|sortedcontainers)==' $(CONSTRAINTS) > build/compat-constraints.txt
	$(COMPAT_VENV)/bin/python -m pip install --quiet -c build/compat-constraints.txt -e python pytest hypothesis PyYAML 'protobuf==$(PROTOBUF_MIN)'
	$(COMPAT_VENV)/bin/python -c 'import google.protobuf as p; print("contract tests under protobuf", p.__version__)'
	MLSPEC_BUF=$(CURDIR)/$(BUF) $(COMPAT_VENV)/bin/python -m pytest tests/contract

serve: setup ## Run the metadata service on 127.0.0.1:50051 over the embedded SQLite store.
	$(VENV)/bin/mlspec db upgrade
	exec $(VENV)/bin/mlspec serve

demo: setup ## Run examples/pipeline (scikit-learn, all 13 stages) on its own server and store (build/demo); print the lineage.
	$(PY) examples/pipeline/demo.py --work build/demo

bench: setup ## Run the benchmarks (bench/) and print the figures (takes several minutes).
	$(PY) -m bench.run

clean: ## Remove build outputs and virtual environments.
	rm -rf build $(VENV) $(COMPAT_VENV)
