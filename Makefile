# `make run`  - install into .venv, prepare the models, serve the Rekognition API on 127.0.0.1:8080
# `make test` - install into .venv, prepare the models, run ruff, mypy and the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CLEARSIGHT_DATA ?= ../shared/data
export CLEARSIGHT_DATA

.PHONY: install models run test lint typecheck bench clean

$(BIN)/clearsight: pyproject.toml
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq npm)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/clearsight models

models: $(BIN)/clearsight
	$(BIN)/clearsight models prepare

HOST ?= 127.0.0.1
PORT ?= 8080

run: install
	$(BIN)/clearsight serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench

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

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
