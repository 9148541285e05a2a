# Two commands for a newcomer: `make run` (serve with demo data) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run serve test test-fast lint format worker beat migrate demo bench check-deploy backup restore clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

migrate: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py load_framework maturity/frameworks/*.yaml
	$(PY) manage.py seed_demo

run: demo
	SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)} $(PY) manage.py runserver $(HOST):$(PORT)

# Production-style server: gunicorn with config/gunicorn.py (DEBUG off, JSON access log).
serve: $(VENV)/.runtime
	$(PY) manage.py collectstatic --noinput -v0
	DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-config.settings.local} DEBUG=$${DEBUG:-false} \
	GUNICORN_BIND=$${GUNICORN_BIND:-$(HOST):$(PORT)} $(VENV)/bin/gunicorn -c config/gunicorn.py config.wsgi

# PostgreSQL backup/restore (see deploy/README.md): a custom-format dump of DATABASE_URL.
BACKUP_DIR ?= backups
backup:
	@test -n "$$DATABASE_URL" || (echo "set DATABASE_URL=postgres://..." && exit 1)
	mkdir -p $(BACKUP_DIR)
	pg_dump --format=custom --no-owner --file=$(BACKUP_DIR)/maturity-$$(date -u +%Y%m%dT%H%M%SZ).dump "$$DATABASE_URL"
	@ls -1t $(BACKUP_DIR) | head -n 1

restore:
	@test -n "$$DATABASE_URL" -a -n "$(FILE)" || (echo "usage: make restore FILE=backups/x.dump DATABASE_URL=postgres://..." && exit 1)
	pg_restore --clean --if-exists --no-owner --dbname="$$DATABASE_URL" "$(FILE)"

bench: $(VENV)/.dev
	$(PY) benchmarks/aggregation.py

test: $(VENV)/.dev
	$(PY) -m pytest

# The loop to run every few minutes: no browser, no worker, no fuzzing, the test databases
# kept between runs, two processes. `make test` (what CI runs) runs everything.
test-fast: $(VENV)/.dev
	$(PY) -m pytest -q -m "not browser and not integration and not fuzz" --reuse-db -n 2

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: $(VENV)/.dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

worker: $(VENV)/.runtime
	$(VENV)/bin/celery -A config worker --loglevel INFO

beat: $(VENV)/.runtime
	$(VENV)/bin/celery -A config beat --loglevel INFO

check-deploy: $(VENV)/.runtime
	DJANGO_SETTINGS_MODULE=config.settings.production \
	SECRET_KEY="$${SECRET_KEY:-$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))')}" \
	ALLOWED_HOSTS="$${ALLOWED_HOSTS:-maturity.example.com}" \
	TRACKER_ENCRYPTION_KEY="$${TRACKER_ENCRYPTION_KEY:-$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')}" \
	$(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache
