# Everything bootstraps on first use: the virtualenv, dependencies, generated code.
# `make run` installs the runtime set only (requirements.txt + the code generator);
# `make test`, `make lint` and the benchmarks add the developer set (requirements-dev.txt).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_DEPS := $(VENV)/.deps-run
DEV_DEPS := $(VENV)/.deps-dev
GEN := gen/python
PROTOS := $(shell find proto -name '*.proto')
GENERATED := $(GEN)/.generated

.PHONY: run bridge emulators test lint proto latency bench clean stub-tools stubs stubs-build stubs-test client-stubs soak

# The .pth file puts the repo and the generated code on the venv's import path, so
# `.venv/bin/python -m service` and the README's snippets work from any folder without PYTHONPATH.
$(RUN_DEPS): requirements.txt requirements-build.txt requirements-docs.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-build.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements-docs.txt
	@printf '%s\n%s\n' "$(CURDIR)" "$(CURDIR)/$(GEN)" > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/chat-gateway.pth"
	@touch $@

$(DEV_DEPS): requirements-dev.txt $(RUN_DEPS)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(GENERATED): $(PROTOS) $(RUN_DEPS)
	@rm -rf $(GEN) && mkdir -p $(GEN)
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=$(GEN) --pyi_out=$(GEN) \
		--grpc_python_out=$(GEN) $(PROTOS)
	@touch $@

## proto: generate the Python code from proto/ (never edit gen/ by hand)
proto: $(GENERATED)

## run: the gateway, gRPC (GRPC_PORT, default 50051) and REST (HTTP_PORT, default 8080) in one process
run: $(GENERATED)
	$(BIN)/python -m service

## bridge: the REST bridge alone, calling the service at SERVICE_ADDR over gRPC
bridge: $(GENERATED)
	$(BIN)/python -m bridge

## emulators: local Anthropic (:9101) and Llama API (:9102) emulators to point the gateway at
emulators: $(GENERATED)
	$(BIN)/python -m tests.emulators --anthropic-port 9101 --llama-port 9102

## test: the whole suite
test: $(GENERATED) $(DEV_DEPS)
	$(BIN)/pytest

## lint: ruff, mypy and buf lint
lint: $(GENERATED) $(DEV_DEPS)
	$(BIN)/ruff check .
	$(BIN)/mypy service bridge
	$(BIN)/buf lint
	$(BIN)/python clients/python/generate.py --check

clean:
	rm -rf $(GEN) $(VENV)

## stub-tools: install what `make stubs` needs (Debian: protoc, Go plugins, Go; npm: clients/ts), only what is missing
stub-tools:
	bash scripts/install-stub-tools.sh

## stubs: generate the Go (clients/go) and TypeScript (clients/ts/src/gen) stubs from proto/; commit the result
stubs: stub-tools
	bash scripts/gen-stubs.sh

## stubs-build: go vet + build clients/go offline against Debian's Go packages; tsc clients/ts
stubs-build: stub-tools
	bash scripts/go-debian-vendor.sh
	cd clients/go && GOPROXY=off GOFLAGS=-mod=vendor go vet ./... \
		&& GOPROXY=off GOFLAGS=-mod=vendor go build -o bin/chatclient ./cmd/chatclient
	cd clients/ts && npm run --silent build

## stubs-test: the stub tests alone (TypeScript and Go clients against the gateway, reproducibility)
stubs-test: $(GENERATED) $(DEV_DEPS)
	$(BIN)/pytest tests/integration/test_stubs.py

## bench: the full benchmark (wrk + a grpc.aio load client), gateway vs direct upstream, one run
bench: $(GENERATED) $(DEV_DEPS)
	$(BIN)/python bench/run.py

## client-stubs: regenerate the gRPC stubs vendored in clients/python (after a change to proto/)
client-stubs: $(DEV_DEPS)
	$(BIN)/python clients/python/generate.py

## soak: 10 minutes of mixed load, watching RSS, sockets and tasks (not in CI)
soak: $(GENERATED) $(DEV_DEPS)
	$(BIN)/python bench/soak.py

## latency: a quick added-latency check at concurrency 1, gateway vs direct upstream (REST and gRPC)
latency: $(GENERATED) $(DEV_DEPS)
	$(BIN)/python bench/latency.py
