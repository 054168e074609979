# Everything runs from a local virtual environment in .venv; no network beyond the package registries.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 7860

# Guards, not side effects of `import rag`: nothing may reach the Hugging Face hub or analytics.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: serve test install index chromium lint eval bench clean

## serve: install, build index/ from seeds/ when missing or stale, then serve the chat
serve: index
	$(BIN)/python -m ui --host $(HOST) --port $(PORT) --index index

## test: install (with Debian's chromium for the browser tests) and run the whole suite
test: install chromium
	$(BIN)/pytest -m "slow or not slow"

install: $(VENV)/.installed

# torch is pinned in the same pip command: pip then takes the CPU wheel on local disk.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[ui,eval,test]" "torch==2.13.0"
	@touch $@

## index: build or update index/ (incremental: a no-op when seeds/ is unchanged)
index: install
	$(BIN)/rag build seeds --index index

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

lint: install
	$(BIN)/ruff check rag ui eval tests bench
	$(BIN)/ruff format --check rag ui eval tests bench
	$(BIN)/mypy

## eval: the seed set and the QMSum validation set, reports in eval/results/
eval: index
	$(BIN)/rag eval eval/sets/seed.jsonl --index index
	$(BIN)/python eval/qmsum.py
	$(BIN)/rag build "$$($(BIN)/python eval/qmsum.py --print-data)" --index eval/indexes/qmsum
	$(BIN)/rag eval eval/sets/qmsum-val.jsonl --index eval/indexes/qmsum

## bench: speed and memory benchmarks, table on stdout, JSON in bench/results/
bench: index
	$(BIN)/python -m bench

clean:
	rm -rf index eval/indexes eval/results/*.json eval/results/*.md eval/results/*.png
