# The two commands a newcomer needs: `make demo` runs the product, `make test` proves it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck tools rabbitmq bench screenshots clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	# Byte-compiled as a wheel install is: under PYTHONDONTWRITEBYTECODE an editable install
	# compiles every module again at each start of a daemon or command (~0.12 s of CPU).
	$(BIN)/python -m compileall -q nsw_adapter
	touch $(STAMP)

# The event feed goes to the reference webhook subscriber, and to a queue on the local RabbitMQ
# when one answers on 127.0.0.1:5672 (`make rabbitmq` starts it).
demo: $(STAMP)
	@if bash -c '(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null'; then \
	  $(BIN)/nsw-adapter demo --amqp 'amqp://guest:guest@127.0.0.1:5672/%2F'; \
	else \
	  $(BIN)/nsw-adapter demo; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check nsw_adapter tests benchmarks
	$(BIN)/ruff format --check nsw_adapter tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

# Debian packages some tests drive (promtool, sqlite3, pg_dump, systemd-analyze): scripts/system-tools.
tools:
	scripts/system-tools

# The RabbitMQ the event feed's tests publish to (127.0.0.1:5672): started when it is not answering.
rabbitmq:
	scripts/rabbitmq

test: $(STAMP) tools rabbitmq lint typecheck
	$(BIN)/pytest -q

# The console's pages as its browser tests see them, for the README (docs/screenshots).
screenshots: $(STAMP) tools
	NSW_ADAPTER_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/browser

bench: $(STAMP)
	$(BIN)/python benchmarks/translate.py

clean:
	rm -rf $(VENV) var/*.db .pytest_cache .mypy_cache .ruff_cache
