# Omnicore — the two commands: `make run` (demo server) and `make test` (the whole suite);
# `make serve` runs the production stack (gunicorn, Celery worker and beat) on PostgreSQL.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test fuzz lint install serve migrate demo worker beat lock bench clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo --if-empty
	$(BIN)/python manage.py demo_users

run: demo
	$(BIN)/python manage.py runserver 127.0.0.1:8000

# The real stack: migrate, collectstatic, then honcho runs the Procfile (gunicorn, Celery
# worker, Celery beat). Needs DATABASE_URL=postgres://… and Redis (REDIS_URL); see README.
serve: install
	$(BIN)/python -m ops.serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py spectacular --fail-on-warn --validate --file /dev/null
	$(BIN)/pytest

# The schemathesis run of `make test`, with many more examples per operation (a few minutes).
fuzz: install
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-50} $(BIN)/pytest tests/api/test_schemathesis.py

bench: install
	$(BIN)/python -m benchmarks

worker: install
	$(BIN)/celery -A config worker -l info

beat: install
	$(BIN)/celery -A config beat -l info

# Regenerate the lock after changing dependencies in pyproject.toml.
lock:
	$(PYTHON) -m venv .lockenv && .lockenv/bin/pip install --quiet uv
	.lockenv/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .lockenv .pytest_cache
