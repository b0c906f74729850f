# Every target creates .venv and installs what it needs first: a fresh machine needs only Python 3.11 and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: help install demo up chaos package deploy-check test test-fast test-stack-changes test-stack-uploads test-stack-runtime test-unit test-functional test-stack test-template test-compat test-browser install-browser lint format bench clean

help:
	@echo "make demo   start the embedded AWS, deploy template.yaml and show what runs"
	@echo "make test   lint, type-check and run every test tier"
	@echo "make up     run the embedded AWS on 127.0.0.1:4566 until Ctrl-C"
	@echo "make chaos  files and change events under injected faults, then a redrive: nothing lost"
	@echo "make lint   ruff, ruff format --check, mypy, checkov on template.yaml"
	@echo "make bench  benchmarks (never part of the tests)"
	@echo "make package       build the Lambda artifacts as sam build does (build/package)"
	@echo "make deploy-check  sam validate --lint, cfn-lint, the artifact checks"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==0.13.9
	@# uv (from PyPI) installs the same pinned set as pip would in a sixth of the time, and compiles the
	@# bytecode on every core (pip took over a minute on 2 cores, half of it compiling on one).
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/pipeline demo

up: $(STAMP)
	$(BIN)/pipeline up

# 300 files and 300 change events under injected faults, then a redrive: fails unless nothing is lost.
chaos: $(STAMP)
	$(BIN)/pipeline chaos

CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

# Order-only on the project's venv (for uv): a change to pyproject.toml must not make a second `uv venv` here.
$(CHECKOV_STAMP): | $(STAMP)
	@# checkov in its own environment: it pins boto3, networkx and packaging far below the tested set.
	$(BIN)/uv venv --quiet --python $(PYTHON) $(CHECKOV_VENV)
	$(BIN)/uv pip install --quiet --python $(CHECKOV_VENV)/bin/python checkov==3.3.30
	@touch $(CHECKOV_STAMP)

lint: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/ruff check pipeline embedded_aws tests
	$(BIN)/ruff format --check pipeline embedded_aws tests
	$(BIN)/mypy
	@# The template's security scan: zero failures; each check that does not apply is skipped in the
	@# resource's Metadata with its reason (tests/template checks the reasons are there).
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download \
		--framework cloudformation -f template.yaml

format: $(STAMP)
	$(BIN)/ruff format pipeline embedded_aws tests
	$(BIN)/ruff check --fix pipeline embedded_aws tests

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit

test-functional: $(STAMP)
	$(BIN)/pytest tests/functional

test-stack: $(STAMP)
	$(BIN)/pytest tests/stack

test-template: $(STAMP)
	$(BIN)/pytest tests/template

test-compat: $(STAMP)
	$(BIN)/pytest tests/compat

# The tiers run side by side, each in its own pytest (moto's backends are process-wide, so the tiers that mock
# AWS in-process and the ones that run the embedded AWS cannot share one); each tier's report prints when it ends.
test: $(STAMP)
	@$(MAKE) --no-print-directory -j7 --output-sync=target lint test-fast test-compat \
		test-stack-changes test-stack-uploads test-stack-runtime test-browser

# The artifact tests build the Lambda packages with pip (a minute of CPU): `make deploy-check` runs them.
test-fast: $(STAMP)
	$(BIN)/pytest tests/unit tests/functional tests/template --ignore=tests/template/test_artifact.py

test-stack-changes: $(STAMP)
	$(BIN)/pytest tests/stack/test_change_events.py tests/stack/test_notifications.py tests/stack/test_chaos.py

test-stack-uploads: $(STAMP)
	$(BIN)/pytest tests/stack/test_upload_pipeline.py tests/stack/test_project_stack.py

test-stack-runtime: $(STAMP)
	$(BIN)/pytest tests/stack --ignore=tests/stack/test_change_events.py \
		--ignore=tests/stack/test_upload_pipeline.py --ignore=tests/stack/test_notifications.py \
		--ignore=tests/stack/test_project_stack.py --ignore=tests/stack/test_chaos.py

# The gallery page in headless Chromium against the stack (tests/browser). It needs the system's Chromium
# (Debian: apt-get install chromium) and the `browser` extra (make install-browser); without them it skips.
BROWSER_STAMP := $(VENV)/.browser-installed

$(BROWSER_STAMP): $(STAMP)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -c constraints.txt -e '.[dev,browser]'
	@touch $(BROWSER_STAMP)

install-browser: $(BROWSER_STAMP)

test-browser: $(STAMP)
	$(BIN)/pytest tests/browser

# pyvips (libvips, the thumbnails' reference) is for `make bench` only, never in the tests or the Lambda artifact.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -c constraints.txt -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m pipeline.cli.bench

# `sam build` runs these (Metadata: BuildMethod: makefile), and so does `make package`: each function's
# artifact is the Lambda code alone (no CLI, no embedded AWS); the dependencies are built once, into the
# DependenciesLayer, as Linux arm64 wheels for the target runtime whatever Python this machine has (DESIGN.md
# D11), pinned by the same constraints.txt the tests run with. LAMBDA_PLATFORM=host builds the same set for
# this machine's Python instead (the artifact import test imports it in a clean interpreter).
LAMBDA_PYTHON ?= 3.13
LAMBDA_PLATFORM ?= arm64
LAMBDA_FUNCTIONS := ApiFunction GalleryFunction StartWorkflowFunction ValidateFunction AllocateVersionFunction ThumbnailsFunction \
	StartChangeWorkflowFunction ValidateChangeFunction RecordChangeFunction PublishChangeFunction RejectChangeFunction \
	ArchiveFunction NotifyFunction \
	ExtractMetadataFunction RecordVersionFunction PublishFunction QuarantineFunction
ifeq ($(LAMBDA_PLATFORM),host)
LAMBDA_WHEELS :=
else
LAMBDA_WHEELS := --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 --implementation cp \
	--python-version $(LAMBDA_PYTHON) --only-binary=:all:
endif
PACKAGE_DIR ?= build/package

$(addprefix build-,$(LAMBDA_FUNCTIONS)):
	mkdir -p "$(ARTIFACTS_DIR)"
	cp -r pipeline "$(ARTIFACTS_DIR)/"
	rm -rf "$(ARTIFACTS_DIR)/pipeline/cli"
	find "$(ARTIFACTS_DIR)/pipeline" -name __pycache__ -prune -exec rm -rf {} +

build-DependenciesLayer:
	mkdir -p "$(ARTIFACTS_DIR)/python"
	python3 -m pip install --quiet --no-compile --disable-pip-version-check --target "$(ARTIFACTS_DIR)/python" \
		$(LAMBDA_WHEELS) -c constraints.txt -r requirements-lambda.txt

SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed

$(SAM_STAMP): | $(STAMP)
	@# SAM CLI in its own environment: it pins boto3 and friends differently from the tested set.
	$(BIN)/uv venv --quiet --python $(PYTHON) $(SAM_VENV)
	$(BIN)/uv pip install --quiet --python $(SAM_VENV)/bin/python aws-sam-cli==1.170.0
	@touch $(SAM_STAMP)

deploy-check: $(STAMP) $(SAM_STAMP) $(CHECKOV_STAMP)
	@# What a first deploy would trip on, caught here: SAM's own validation with its linter, the security
	@# scan, cfn-lint and the template's structure, and the artifact (pinned versions, small, every handler
	@# importable alone).
	AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --template template.yaml
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download \
		--framework cloudformation -f template.yaml
	$(BIN)/pytest -q tests/template

package:
	@# What `sam build` builds, without SAM: the layer and one folder per function, then their sizes.
	rm -rf "$(PACKAGE_DIR)"
	$(MAKE) --no-print-directory build-DependenciesLayer ARTIFACTS_DIR="$(abspath $(PACKAGE_DIR))/DependenciesLayer"
	@for fn in $(LAMBDA_FUNCTIONS); do \
		$(MAKE) --no-print-directory -s build-$$fn ARTIFACTS_DIR="$(abspath $(PACKAGE_DIR))/$$fn" || exit 1; done
	@du -sh "$(PACKAGE_DIR)"/DependenciesLayer "$(PACKAGE_DIR)"/ValidateFunction "$(PACKAGE_DIR)"

clean:
	rm -rf $(VENV) .pipeline .pytest_cache .mypy_cache .ruff_cache
