# amplitude-to-brevo: `make demo` runs the pipeline against the sandbox, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PACKAGES := sandbox/pyproject.toml tap-amplitude/pyproject.toml target-brevo/pyproject.toml webhook-receiver/pyproject.toml \
	tap-brevo/pyproject.toml target-amplitude/pyproject.toml target-common/pyproject.toml requirements.txt

.PHONY: install demo demo-reset lint test bench bench-large sandbox clean

install: $(VENV)/.installed

$(VENV)/.installed: $(PACKAGES)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check \
		-e ./sandbox -e ./webhook-receiver -e './tap-amplitude[testing,streaming]' -e './target-brevo[testing]' \
		-e ./target-common -e ./tap-brevo -e ./target-amplitude -r requirements.txt
	touch $@

demo: install
	$(PY) -m demo

demo-reset: install
	$(PY) -m demo --reset

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# pytest exits 5 when it collected no test: say so, so that a run that tested nothing never looks like a pass.
test: lint
	@status=0; $(PY) -m pytest $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$status

# Benchmarks (issue 7): figures printed and written to bench/RESULTS.md. `make bench` takes a few minutes
# (tap: 200k events for throughput, 100k and 1M for memory; pipeline: 50k; target: --scale 0.25);
# `make bench-large` (= `make bench BENCH_ARGS=--large`) runs the full sizes (1M, 5M, 500k, --scale 1).
# Seeded export data sets are cached in bench/out/data (git-ignored; about 2 GB per million events).
# The real-time path (issue 12) runs at the issue's sizes either way: 100 and 500 events/s, 60 s each (about 2 min);
# so do the privacy features' call counts (issue 13: 1,000 erasures, 10,000 update-only contacts; about 3 min).
# The closed loop (issue 14: target-amplitude on 10k/100k records, a 5,000-contact campaign's webhooks through
# tap-brevo | target-amplitude, the transactional pull) runs at its default sizes either way (about 3 min).
bench: install
	$(PY) bench/tap_throughput.py $(BENCH_ARGS)
	$(PY) bench/tap_memory.py $(BENCH_ARGS)
	$(PY) bench/pipeline.py $(BENCH_ARGS)
	$(PY) bench/target_efficiency.py $(if $(filter --large,$(BENCH_ARGS)),--scale 1)
	$(PY) bench/realtime_latency.py
	$(PY) bench/privacy_calls.py
	$(PY) bench/companies_calls.py
	$(PY) bench/closed_loop.py

bench-large:
	$(MAKE) bench BENCH_ARGS="--large $(filter-out --large,$(BENCH_ARGS))"

# `make sandbox [APP=my-app.yaml]`: a fresh sandbox (data in .sandbox/) on the fixed ports and keys of
# meltano.yml's dev environment, for `meltano run` by hand; the dev bookmarks, delivery ledgers, privacy store and the
# closed loop's spool and contact directory (data/) are cleared with it. APP seeds a simulated app with your names
# (sandbox/my-app.example.yaml). Ctrl-C stops it.
# The fixed ports (also meltano.yml's dev and demo environments) sit below Linux's ephemeral range
# (32768-60999), so an outgoing connection never holds one when the sandbox starts.
SANDBOX_PORTS := --port amplitude_api=27801 --port amplitude_api_eu=27802 --port amplitude_ingest=27803 \
	--port amplitude_ingest_eu=27804 --port brevo=27805
SANDBOX_KEYS := --amplitude-api-key sandbox-amplitude-api-key --amplitude-secret-key sandbox-amplitude-secret-key \
	--amplitude-eu-api-key sandbox-eu-amplitude-api-key --amplitude-eu-secret-key sandbox-eu-amplitude-secret-key \
	--brevo-api-key xkeysib-sandbox-dev-key

sandbox: install
	rm -rf .sandbox data/target-brevo/ledger.sqlite3* data/brevo-privacy.sqlite3* data/target-amplitude data/tap-brevo \
		&& mkdir -p .sandbox
	for id in dev:tap-amplitude-to-target-brevo dev:tap-brevo-to-target-amplitude; do \
		$(VENV)/bin/meltano --environment=dev state clear --force $$id >/dev/null 2>&1 || true; done
	$(VENV)/bin/sandbox serve --ready-file .sandbox/ready.json --data-dir .sandbox/data \
		$(SANDBOX_PORTS) $(SANDBOX_KEYS) $(if $(APP),--app $(APP))

# `clean` keeps data/ (ledgers, privacy store, spools): what production must never lose.
clean:
	rm -rf $(VENV) .meltano .demo .sandbox output
