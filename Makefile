# amplitude-to-brevo: `make demo` runs the pipeline against the sandbox, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PACKAGES := sandbox/pyproject.toml tap-amplitude/pyproject.toml target-brevo/pyproject.toml tests/requirements.txt

.PHONY: install demo test bench bench-large sandbox clean

install: $(VENV)/.installed

$(VENV)/.installed: $(PACKAGES)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check \
		-e ./sandbox -e './tap-amplitude[testing]' -e './target-brevo[testing]' -r tests/requirements.txt
	touch $@

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

sandbox: install
	$(VENV)/bin/sandbox serve --ready-file .sandbox-ready.json

clean:
	rm -rf $(VENV) .meltano .sandbox-ready.json
