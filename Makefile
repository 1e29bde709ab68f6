# Two entry points: `make demo` and `make test`. Everything else is plumbing for them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install lint typecheck imports pytest browser-deps interop-deps bench clean

$(STAMP): pyproject.toml requirements.lock $(wildcard native/opendnp3_points/*.* native/opendnp3_points/*/*.*)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	@# uv installs the pinned set in parallel (20 s where pip takes 55 s here); pip does it if uv cannot.
	{ $(BIN)/python -m pip install --quiet "uv==0.13.9" && \
	  $(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -r requirements.lock; } || \
	  $(BIN)/python -m pip install --quiet -r requirements.lock
	@# Per-point DNP3 database settings the binding lacks (compiled here, with gcc): docs/adr/0019-dnp3-point-settings.md
	$(BIN)/python -m pip install --quiet --no-deps ./native/opendnp3_points
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python -m crest_web.launcher demo

# Debian's chromium drives the browser tests; nothing downloads a browser of its own.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

# The interop tests build EPRI's reference 2030.5 client (../shared/interop/) with gcc against OpenSSL,
# and give its csip_test a link of their own (ip, from iproute2) to discover the server on.
interop-deps:
	@{ test -f /usr/include/openssl/ssl.h && command -v ip >/dev/null; } || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev iproute2 >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev iproute2 >/dev/null; fi; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The django-stubs plugin imports settings, which insist on these; nothing connects to them.
typecheck: install
	DATABASE_URL=postgresql://typecheck@localhost/typecheck REDIS_URL=redis://localhost:6379/0 $(BIN)/mypy

imports: install
	$(BIN)/lint-imports

# Four processes on two cores: the slowest files mostly wait on interval boundaries and killed
# processes (tests/conftest.py starts them first), so the other processes fill those waits.
pytest: install browser-deps interop-deps
	$(BIN)/python -m pytest -n 4 --dist loadfile --no-loadscope-reorder --durations=15

# The type check and the import contracts run beside the test suite (its first minutes mostly wait
# on killed processes and interval boundaries); their output follows the suite's.
test: lint install browser-deps interop-deps
	@$(MAKE) --no-print-directory typecheck imports > .checks.log 2>&1 & checks=$$!; \
	$(MAKE) --no-print-directory pytest; tests=$$?; \
	wait $$checks; checked=$$?; cat .checks.log; rm -f .checks.log; \
	test $$tests -eq 0 && test $$checked -eq 0

bench: install
	$(BIN)/python benchmarks/registry.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache staticfiles
