#!/usr/bin/env bash
# Every test of weft, from a fresh machine: formatting, clippy, the Rust unit / property /
# integration tests (nextest), then the end-to-end tests with the official Python client
# (installed into ./.venv). Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "rustfmt"
cargo fmt --all --check

step "clippy"
cargo clippy --all-targets -- -D warnings
# The benchmarks are not a default member; lint them so an API change cannot break them unseen.
cargo clippy -p weft-bench --all-targets -- -D warnings

step "build"
cargo build -p weft

step "Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --profile ci
  cargo test --doc
else
  cargo test
fi

step "Python end-to-end tests (weaviate-client)"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
WEFT_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/weft" .venv/bin/python -m pytest tests/e2e -q -p no:cacheprovider

step "Python end-to-end tests of the v3 client (weaviate-client 3.26.7, GraphQL; own venv)"
if [ ! -x .venv-v3/bin/python ]; then
  python3 -m venv .venv-v3
fi
.venv-v3/bin/pip install --quiet --disable-pip-version-check -r tests/e2e_v3/requirements.txt
WEFT_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/weft" .venv-v3/bin/python -m pytest tests/e2e_v3 -q -p no:cacheprovider

step "Docker image and Compose (tests/docker; skipped without a Docker engine)"
# scripts/docker-image.sh builds weft:local around the debug binary, without a registry.
WEFT_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/weft" .venv/bin/python -m pytest tests/docker -q -p no:cacheprovider

step "Schemathesis against /v1/openapi.json (bounded examples, no 5xx, responses as documented)"
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/schemathesis/requirements.txt
WEFT_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/weft" .venv/bin/python -m pytest tests/schemathesis -q -p no:cacheprovider

step "Helm chart (rendered by Helm's engine, validated against the Kubernetes schemas, offline)"
./scripts/check-helm.sh
