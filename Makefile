# `make run`  - install into .venv, prepare the models, serve the Rekognition API and the web console on 127.0.0.1:8080
# `make test` - install into .venv, prepare the models, run ruff, mypy and the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CLEARSIGHT_DATA ?= ../shared/data
export CLEARSIGHT_DATA

.PHONY: install models run test lint typecheck bench clean lock audit

# the locked versions first (requirements.lock), then the project itself without resolving again
$(BIN)/clearsight: pyproject.toml requirements.lock
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq npm)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e '.[dev]'
	$(BIN)/python -m pip check
	touch $@

install: $(BIN)/clearsight models

models: $(BIN)/clearsight
	$(BIN)/clearsight models prepare

HOST ?= 127.0.0.1
PORT ?= 8080

run: install
	@echo "ClearSight: the API at http://$(HOST):$(PORT)/ and the web console at http://$(HOST):$(PORT)/console/"
	@echo "  (log in with an access key, or run: $(BIN)/clearsight console login --url http://$(HOST):$(PORT))"
	$(BIN)/clearsight serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_layers.py  # the layer rule of DESIGN.md

typecheck: install
	$(BIN)/mypy

test: install lint typecheck
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/face_pipeline.py
	$(BIN)/python bench/embed_lfw.py
	$(BIN)/python bench/collections_scale.py
	$(BIN)/python bench/http_service.py
	$(BIN)/python bench/text_labels.py

# re-resolve pyproject.toml's ranges in a scratch venv and write the result to requirements.lock
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q --upgrade pip
	.lock-venv/bin/python -m pip install -q -e '.[dev]'
	{ sed -n '1,3p' requirements.lock; .lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^clearsight'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .lock-venv

# known vulnerabilities in the locked versions, with pip-audit in a venv of its own (it needs its
# vulnerability service, PyPI's JSON API or OSV: where neither is reachable, --strict makes it fail
# and say which packages it could not audit, rather than pass having checked nothing)
audit:
	test -x .audit-venv/bin/pip-audit || ($(PYTHON) -m venv .audit-venv && .audit-venv/bin/python -m pip install -q pip-audit)
	.audit-venv/bin/pip-audit --requirement requirements.lock --no-deps --disable-pip --strict --progress-spinner off

clean:
	rm -rf $(VENV) .audit-venv .lock-venv out .pytest_cache .mypy_cache .ruff_cache
