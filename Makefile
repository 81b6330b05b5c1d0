# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The suite waits on servers and PostgreSQL more than it computes: two processes, each with a
# database of its own, halve its time on two cores. A test file runs whole on one process.
PYTEST_WORKERS ?= -n 2 --dist loadfile
# `make image`: the tag built, and the Python 3.11 image both stages start from.
IMAGE ?= scheduling-service
BASE_IMAGE ?= python:3.11.15-slim

.PHONY: run test fuzz mutate bench lint openapi endpoints image lock clean-data

# Each long step says so in one line (pip is quiet, and the first run takes a minute or two).
$(BIN)/python:
	@echo "== creating the environment in $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files record which lock file the virtualenv was last synced with.
$(VENV)/.main: $(BIN)/python requirements/main.txt pyproject.toml
	@echo "== installing the locked dependencies (requirements/main.txt)"
	@$(BIN)/python -m pip install --quiet --require-hashes -r requirements/main.txt
	@$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.main requirements/dev.txt
	@echo "== installing the locked test tools (requirements/dev.txt)"
	@$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	@touch $@

run: $(VENV)/.main
	@$(BIN)/scheduling-service serve --host $(HOST) --port $(PORT)

test: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Schemathesis against the real server process and a throwaway database (tests/fuzz/run.py).
fuzz: $(VENV)/.dev
	$(BIN)/python -m tests.fuzz.run

# Mutation testing of pipeline.py and calcom/delivery.py ([tool.mutmut] in pyproject.toml).
# Slow, so neither `make test` nor CI runs it. mutants/ is rebuilt each time so no result is
# taken from an older source; the run ends by listing the mutants that survived.
mutate: $(VENV)/.dev
	rm -rf mutants
	$(BIN)/mutmut run
	$(BIN)/mutmut results

# The performance benchmark: seeds its own database, measures PostgreSQL's ceiling, then the
# real server (bench/RESULTS.md). A few minutes; BENCH_ARGS=--big seeds 1,000,000 applications.
bench: $(VENV)/.dev
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

openapi: $(VENV)/.main
	$(BIN)/scheduling-service openapi > openapi/openapi.json

# The README's endpoint list, between its two markers, from the served OpenAPI document.
endpoints: $(VENV)/.main
	$(BIN)/scheduling-service endpoints > $(VENV)/endpoints.md
	awk '/<!-- endpoints:end -->/ { skip = 0 } !skip { print } \
	  /<!-- endpoints:begin -->/ { while ((getline row < "$(VENV)/endpoints.md") > 0) print row; skip = 1 }' \
	  README.md > $(VENV)/README.md && mv $(VENV)/README.md README.md

image:
	docker build --build-arg PYTHON_IMAGE=$(BASE_IMAGE) -t $(IMAGE) .

# Re-resolve the pinned, hashed dependency sets after changing pyproject.toml.
lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml requirements/build.in --generate-hashes --python-version 3.11 -q -o requirements/main.txt
	$(BIN)/uv pip compile pyproject.toml requirements/build.in --extra dev --generate-hashes --python-version 3.11 -q -o requirements/dev.txt

clean-data:
	rm -rf .data
