# caqes-docs: `make demo` installs everything then runs the demo; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install system-deps demo test lint bench clean

install: system-deps $(VENV)/.installed

system-deps:
	@./tools/system-deps.sh

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: install
	$(BIN)/caqes demo --out demo

test: install lint
	$(BIN)/pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check caqes_docs tests tools bench cli.py
	$(BIN)/ruff format --check caqes_docs tests tools bench cli.py

clean:
	rm -rf demo sortie .pytest_cache
