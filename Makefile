# Quick start: `make run` (set up and run the main job), `make test` (the CI suite).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test setup clean

setup: $(STAMP)

# espeak-ng (Debian) synthesizes the spoken-digit corpus; then torch first, pinned to the
# CPU wheel on this machine, so no dependency can pull a CUDA build; then the package
# itself with its extras.
$(STAMP): pyproject.toml
	@command -v espeak-ng >/dev/null 2>&1 || $(SUDO) apt-get install -y -q espeak-ng >/dev/null 2>&1 \
	  || ($(SUDO) apt-get update -q >/dev/null 2>&1 && $(SUDO) apt-get install -y -q espeak-ng >/dev/null 2>&1) \
	  || echo "warning: could not install espeak-ng (Debian package): speech synthesis is unavailable"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/lstmkit experiment reber --seeds 10

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
