.PHONY: run test bench lint schema migrations setup

VENV := .venv

setup:
	@scripts/venv.sh

run:
	@scripts/system-deps.sh --run
	@scripts/venv.sh
	@scripts/console.sh
	@$(VENV)/bin/neuronest migrate
	@$(VENV)/bin/neuronest serve --host 127.0.0.1 --port 8000

test:
	@scripts/test.sh

bench:
	@scripts/bench.sh

lint: setup
	$(VENV)/bin/ruff check neuronest tests bench
	$(VENV)/bin/ruff format --check neuronest tests bench
	$(VENV)/bin/mypy neuronest
	$(VENV)/bin/lint-imports --no-cache

schema: setup
	$(VENV)/bin/python -c "from neuronest.graphql.schema import sdl; print(sdl())" > schema.graphql

migrations: setup
	$(VENV)/bin/python -m tortoise -c neuronest.db.TORTOISE_ORM makemigrations
