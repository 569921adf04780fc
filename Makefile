# Developer entry points. Needs Python 3.11 + uv; `make test` also needs Java 17 and Maven
# (for the local Kafka broker). CI runs .ci/run, which calls `make test`.
.PHONY: run test lint sync up down status demo

# Every uv command installs exactly what uv.lock says and never rewrites it.
export UV_FROZEN := 1

PYTEST_ARGS ?=

run: sync
	uv run python -m umkm_platform

# Starts a local PostgreSQL and Kafka (scripts/devstack.py) unless DATABASE_URL /
# KAFKA_BOOTSTRAP_SERVERS are set, runs every testpath of pyproject.toml, stops what it started
# (even when tests fail) and exits with pytest's code. Example: make test PYTEST_ARGS="-x tests"
# To keep the servers up between runs: `uv run python scripts/devstack.py up` (then `... down`).
test: sync
	uv run python scripts/devstack.py run -- uv run pytest $(PYTEST_ARGS)

# The distributed mode: local PostgreSQL + Kafka and the four services as separate processes
# on ports 8101-8104, talking only through Kafka (platform_app/umkm_platform/stack.py).
up: sync
	uv run python -m umkm_platform.stack up

down:
	uv run python -m umkm_platform.stack down

status:
	uv run python -m umkm_platform.stack status

# The end-to-end story, narrated, against `make up` (started if needed): import, clusters, an
# anchor's request met by a bundle, PO financing with two banks, closed-loop repayment.
demo: sync
	uv run python -m umkm_platform.story

lint: sync
	uv run ruff check .
	uv run ruff format --check .
	uv run mypy shared/umkm_shared

sync:
	uv sync --frozen
