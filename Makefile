# minecs developer targets. Every target that needs Docker, the venv or the
# images runs scripts/setup.sh first: the checkout's .venv, then `minecs setup`
# (Docker, busybox, minecs's images; idempotent, quick when already set up).
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: all setup test test-faults demo bench images clean dist

all: test

setup:
	bash scripts/setup.sh

# The layering contracts (.importlinter) first: a broken layer fails in a second, before the suite runs.
# Then the suite on two workers (a file stays on one worker: its fixtures are shared within it), and last,
# alone, the tests that must have the machine to themselves (they remove minecs's images).
test: setup
	.venv/bin/lint-imports --no-cache
	$(PY) -m pytest -q -n 2 --dist loadfile -m "not soak and not serial" tests $(PYTEST_ARGS)
	$(PY) -m pytest -q -m serial tests $(PYTEST_ARGS)

# The fault soak (at most 30 min): the soak tests (a dockerd restart under a running service, an agent that
# stops answering and comes back), a 5-minute chaos run and a 20x longer fuzz of every operation.
test-faults: setup
	MINECS_CHAOS_SECONDS=300 MINECS_FUZZ_EXAMPLES=640 timeout 1800 $(PY) -m pytest -q -m "soak or not soak" \
	  tests/integration/test_soak.py tests/integration/test_chaos.py tests/unit/test_fuzz.py $(PYTEST_ARGS)

demo: setup
	.venv/bin/minecs demo

bench: setup
	$(PY) -m bench

# Rebuild every image minecs ships (orchestrator/images/contexts/) even if its context is unchanged.
images: setup
	.venv/bin/minecs setup --rebuild-images

# The sdist and the wheel, in dist/ (what `pipx install dist/minecs-*.whl` installs).
dist: setup
	rm -rf dist && $(PY) -m build --no-isolation --outdir dist .

# Remove containers, networks and task-scoped volumes minecs created (ECS-labelled or minecs.managed=1).
clean:
	@ids="$$( { docker ps -aq --filter label=com.amazonaws.ecs.cluster; \
	           docker ps -aq --filter label=minecs.managed=1; } | sort -u)"; \
	if [ -n "$$ids" ]; then echo "removing containers: $$(echo $$ids)"; docker rm -f $$ids >/dev/null; fi
	@nets="$$(docker network ls -q --filter label=minecs.managed=1)"; \
	if [ -n "$$nets" ]; then echo "removing networks: $$(echo $$nets)"; docker network rm $$nets >/dev/null; fi
	@vols="$$(docker volume ls -q --filter label=minecs.managed=1)"; \
	if [ -n "$$vols" ]; then echo "removing volumes: $$(echo $$vols)"; docker volume rm $$vols >/dev/null; fi
