# Two commands: `make demo` runs the product on embedded defaults; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint lock bench translations extract-messages clean

# The venv gets the pinned, hashed dev lock (runtime + demo stand-ins + test tools), then the project itself
# without resolving anything; `pip check` catches a pyproject.toml dependency the locks do not have yet.
$(STAMP): pyproject.toml requirements/dev.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check || { echo "requirements/*.lock lag behind pyproject.toml: run make lock"; exit 1; }
	touch $(STAMP)

translations: $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d web/translations -f

# The demo runs with development settings (keys derived from a per-checkout secret); without RECOVERLY_ENV the
# app is production and refuses to start without its secrets.
demo: $(STAMP) translations
	RECOVERLY_ENV=development $(BIN)/python -m web.demo

test: $(STAMP) translations
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# Re-resolves requirements/*.lock from pyproject.toml with pip-tools in a throwaway venv, for CPython 3.11 on
# Linux (the interpreter of the Dockerfile and CI). Pins already in the locks are kept; LOCK_ARGS=--upgrade (or
# --upgrade-package NAME) moves them. runtime.lock constrains dev.lock, so tests run on production's versions.
# The project is declared "unsafe": the dev extra names recoverly[demo], which pip-compile would otherwise pin
# as a file:// path (the WARNING naming it at the end of dev.lock is expected; it is installed with --no-deps -e .).
LOCK_PYTHON ?= python3.11
LOCK_ARGS ?=
PIP_COMPILE_FLAGS = --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
	--unsafe-package recoverly $(LOCK_ARGS)

lock:
	tools=$$(mktemp -d) && trap 'rm -rf "$$tools"' EXIT \
	&& $(LOCK_PYTHON) -m venv "$$tools" \
	&& "$$tools/bin/python" -m pip install --quiet pip==26.3 pip-tools==7.7.0 \
	&& export CUSTOM_COMPILE_COMMAND="make lock" \
	&& "$$tools/bin/pip-compile" $(PIP_COMPILE_FLAGS) -o requirements/runtime.lock pyproject.toml \
	&& "$$tools/bin/pip-compile" $(PIP_COMPILE_FLAGS) --extra dev -c requirements/runtime.lock \
		-o requirements/dev.lock pyproject.toml

bench: $(STAMP)
	$(BIN)/python bench/$(NAME).py

extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o web/translations/messages.pot .
	$(BIN)/pybabel update -i web/translations/messages.pot -d web/translations --no-fuzzy-matching

clean:
	rm -rf $(VENV) instance .pytest_cache
