# comic2pdf — the commands a user types. `make demo` and `make test` install
# everything they need first (system packages via apt-get, then .venv).
PY := .venv/bin/python
DATA_DIR ?= data

.PHONY: setup demo samples test lint bench deploy deploy-docker worker server clean

setup:
	scripts/setup.sh

samples: setup
	$(PY) -m comic2pdf.samples examples

demo: samples
	DATA_DIR=$(DATA_DIR) .venv/bin/comic2pdf convert examples/*.cb? --out $(DATA_DIR)/out
	@echo "searchable PDFs are in $(DATA_DIR)/out/"

test: setup
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m ruff format --check comic2pdf tasks flows deployments

deploy: setup
	scripts/deploy.sh local

deploy-docker: setup
	scripts/deploy.sh docker

worker: setup
	scripts/worker.sh

# A Prefect server on PostgreSQL with basic auth (README "Run on a Prefect server").
server: setup
	scripts/server.sh

bench: setup
	$(PY) bench/run.py
	$(PY) bench/convert_speed.py

clean:
	rm -rf $(DATA_DIR) examples/*.cb? .pytest_cache
