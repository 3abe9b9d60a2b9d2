# Two commands on a fresh machine: `make train` and `make test`.
# Each creates .venv if missing and installs the project into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Metaflow refuses to run without a user name and refuses "root".
METAFLOW_USER ?= $(or $(filter-out root,$(USER)),paylink-dev)
export METAFLOW_USER
PYTEST_ARGS ?=
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# This machine's pip config lists local mirrors that may not exist; hide only those notices.
QUIET_PIP := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: install train test data bench clean aws-drill

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip $(QUIET_PIP)
	$(PY) -m pip install --quiet -e ".[dev]" $(QUIET_PIP)
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(PY) flows/train.py run
	@echo "online store: the embedded store as of the end of the events (checkout form: docs/serving.md)"
	$(VENV)/bin/fraud features load --as-of end

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The full deploy drill against a real AWS account (deploy/drill.py); skipped, exit 0, without credentials.
# Not part of `make test`: it costs money and tens of minutes. tests/aws/test_drill.py runs it on the emulator.
aws-drill: $(STAMP)
	$(PY) -m deploy.drill $(DRILL_ARGS)

data: $(STAMP)
	$(VENV)/bin/fraud data generate --rows 200000 --seed 7 --out data/check

clean:
	rm -rf $(VENV) .metaflow metaflow_card_cache data artifacts
