# Thin targets over the `lungseg` CLI. `make book` and `make test` set up .venv themselves.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: book linkcheck test test-book test-slow test-browser browser-deps data train default-model bench clean-book

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/lungseg book $(BOOK_ARGS)

# Check every link of the book built last (`make book` first); report in _build/linkcheck/.
linkcheck: $(STAMP)
	$(BIN)/lungseg book --no-execute --builder linkcheck

test: $(STAMP) browser-deps
	$(BIN)/pytest

# The book built from smoke runs (zero warnings, glued numbers, remembered parameters), every
# notebook with its defaults, and the built pages in headless Chromium (about 15 minutes).
test-book: $(STAMP) browser-deps
	$(BIN)/pytest -m book

test-slow: $(STAMP)
	$(BIN)/pytest -m slow

test-browser: $(STAMP) browser-deps
	$(BIN)/pytest -m book tests/test_browser.py

# Debian's chromium + chromedriver for the book's browser test (installed when missing and
# possible; without them that test is skipped with a reason).
browser-deps:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { apt-get install -y chromium chromium-driver || \
	      { apt-get update && apt-get install -y chromium chromium-driver; }; }; } || \
	  echo "note: install chromium and chromium-driver to run the browser test"

data: $(STAMP)
	$(BIN)/lungseg data check $${LUNGSEG_DATA:?set LUNGSEG_DATA to a data folder}

train: $(STAMP)
	$(BIN)/lungseg train --model $${MODEL:-unet} --profile $${PROFILE:-smoke}

# The default model: train (or resume) it with params/default.yaml, ship it into the package
# (weights, model card, SHA256SUMS) and time it as a user meets it (data from LUNGSEG_DATA).
default-model: $(STAMP)
	$(BIN)/lungseg train --model unet3_compact --profile default --seed 0
	$(BIN)/lungseg weights export runs/default/unet3_compact/seed0 --out lungseg_lib/default_model --name model --force
	$(BIN)/python scripts/time_default_model.py

bench: $(STAMP)
	$(BIN)/lungseg bench --out $${OUT:-bench/cpu.json}

clean-book:
	rm -rf _build
