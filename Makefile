# okno — two commands: `make run` and `make test`. Everything else here serves those two.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test install install-test translations translations-update vendor lint bench-slots bench-rush bench-multinode bench-dashboard bench-feed bench-privacy bench-booking bench-sqlite bench-endpoints clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed translations

install-test: $(VENV)/.installed-test translations

## Compile the message catalogs (Russian is the default language, English on request).
translations: $(VENV)/.installed
	$(BIN)/pybabel compile -d scheduler/translations

## Re-extract strings and merge them into the catalogs (developers, after changing texts).
translations-update: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o scheduler/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i scheduler/translations/messages.pot -d scheduler/translations --no-fuzzy-matching

## Serve the app on SQLite with demo data and the background worker.
run: install
	$(FLASK) db upgrade
	@if [ ! -f instance/.demo-data-loaded ]; then $(FLASK) demo-data && touch instance/.demo-data-loaded; \
	else $(FLASK) demo-data --logins-only; fi
	@echo "okno: http://$(HOST):$(PORT)/"
	@trap 'kill 0' INT TERM EXIT; \
	$(FLASK) worker & \
	$(FLASK) run --host $(HOST) --port $(PORT)

## Run the test suite (set OKNO_TEST_DATABASE_URL to test on PostgreSQL).
test: install-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: install-test
	$(BIN)/ruff check .

## Benchmarks (printed figures, not tests): slot search, and a slot-release rush on PostgreSQL.
bench-slots: install
	$(BIN)/python bench/slots.py

bench-dashboard: install
	$(BIN)/python bench/dashboard.py --database-url $${OKNO_BENCH_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}

bench-feed: install
	$(BIN)/python bench/feed.py --database-url $${OKNO_BENCH_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}

bench-privacy: install
	$(BIN)/python bench/privacy.py --database-url $${OKNO_BENCH_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}

bench-rush: install
	$(BIN)/python bench/rush.py --database-url $${OKNO_BENCH_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}

bench-booking: install
	$(BIN)/python bench/booking.py --database-url $${OKNO_BENCH_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}

## SQLite: readers (searches, pages) beside a writer (bookings), every transaction serialised vs only writers.
bench-sqlite: install
	$(BIN)/python bench/sqlite.py

## /healthz and /api/v1/topics beside a bare Flask endpoint on the same gunicorn settings.
bench-endpoints: install
	$(BIN)/python bench/endpoints.py --database-url $${OKNO_BENCH_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test} \
		--redis-url $${OKNO_BENCH_REDIS_URL:-redis://127.0.0.1:6379/14}

## The same rush through two nodes and two workers on one PostgreSQL and one Redis, one worker killed.
bench-multinode: install-test
	$(BIN)/python bench/multinode.py --database-url $${OKNO_BENCH_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test} \
		--redis-url $${OKNO_BENCH_REDIS_URL:-redis://127.0.0.1:6379/14}

## Refresh the vendored front-end assets from the npm registry (pinned in package.json).
vendor:
	npm ci --no-audit --no-fund --ignore-scripts
	mkdir -p scheduler/static/vendor/pico
	cp node_modules/@picocss/pico/css/pico.min.css node_modules/@picocss/pico/LICENSE.md scheduler/static/vendor/pico/
	mkdir -p scheduler/static/vendor/chartjs
	cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/LICENSE.md scheduler/static/vendor/chartjs/
	mkdir -p tests/e2e/vendor/axe-core
	cp node_modules/axe-core/axe.min.js node_modules/axe-core/LICENSE tests/e2e/vendor/axe-core/

clean:
	rm -rf $(VENV) node_modules .pytest_cache
