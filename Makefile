# Every target that needs Python first brings .venv in line with uv.lock.
SHELL := /bin/bash
PY := .venv/bin/python
UV := UV_PROJECT_ENVIRONMENT=.venv .venv/bin/uv
STACK := ops/stack/stack.sh
PYTEST_ARGS ?=

.PHONY: browser venv stack-up stack-down stack-status lint typecheck schemas test test-unit \
	test-integration test-e2e test-chaos test-cluster test-browser test-security run demo bench promtool-test k8s-tools \
	mutation clean

.venv/.synced: pyproject.toml uv.lock
	@test -x .venv/bin/python || python3.11 -m venv .venv
	@test -x .venv/bin/uv || .venv/bin/pip install -q uv==0.13.9
	$(UV) sync --frozen --quiet
	@touch $@

venv: .venv/.synced

stack-up:
	$(STACK) up

stack-down:
	$(STACK) down

stack-status:
	$(STACK) status

lint: venv
	.venv/bin/ruff check service tests ops
	.venv/bin/ruff format --check service tests ops
	.venv/bin/mypy --strict service

schemas: venv
	$(PY) -m service.cli.schemas schemas

promtool-test:
	ops/prometheus/check.sh

# Helm for the chart test (tests/integration/test_helm_chart.py), built once into .local/bin.
k8s-tools:
	ops/k8s-tools.sh

browser:
	ops/stack/browser.sh

# One tier at a time; all but the unit tier need the stack (started and stopped as for `test`).
test-unit: venv
	$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

test-integration: venv k8s-tools
	$(STACK) run -- $(PY) -m pytest tests/integration -q -rfEP -p no:cacheprovider $(PYTEST_ARGS)

test-e2e: venv promtool-test browser
	$(STACK) run -- $(PY) -m pytest tests/e2e -q -rfEP -p no:cacheprovider $(PYTEST_ARGS)

test-chaos: venv
	$(STACK) run -- $(PY) -m pytest tests/chaos -q -rfEP -p no:cacheprovider $(PYTEST_ARGS)

# The three-broker cluster test alone (ops/stack/cluster.sh; also part of test-chaos and test).
test-cluster: venv
	$(STACK) run -- $(PY) -m pytest tests/chaos/test_cluster.py -q -rfEP -p no:cacheprovider $(PYTEST_ARGS)

test-browser: venv browser
	$(STACK) run -- $(PY) -m pytest tests/browser -q -rfEP -p no:cacheprovider $(PYTEST_ARGS)

test-security: venv
	$(STACK) run -- $(PY) -m pytest tests/security -q -rfEP -p no:cacheprovider $(PYTEST_ARGS)

# Starts whatever part of the stack is not running, runs everything, stops what it started.
test: venv lint promtool-test browser k8s-tools
	$(STACK) run -- $(PY) -m pytest -q -rfEP -p no:cacheprovider $(PYTEST_ARGS)

# The gate's signing key for local runs is made once, under the git-ignored .local/run/.
GATE_KEY_LOCAL := .local/run/gate-key.pem

run: venv stack-up
	@test -f $(GATE_KEY_LOCAL) || $(PY) -m service keygen --out $(GATE_KEY_LOCAL) >/dev/null
	GATE_KEY_FILE=$${GATE_KEY_FILE:-$(GATE_KEY_LOCAL)} $(PY) -m service run

demo: venv
	$(PY) -m service demo

# The domain's mutation score under the unit tier (mutmut, configured in pyproject.toml;
# tens of minutes on two cores, not part of `make test`). Results stay in mutants/ for
# `mutmut show NAME` and `mutmut browse`.
mutation: venv
	rm -rf mutants
	.venv/bin/mutmut run --max-children $$(nproc)
	$(PY) -m tests.support.mutation

bench: venv
	$(STACK) run -- $(PY) -m tests.bench.run

clean:
	$(STACK) down || true
	ops/stack/cluster.sh clean || true
	rm -rf .local/data .local/logs
