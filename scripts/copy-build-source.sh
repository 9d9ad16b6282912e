#!/usr/bin/env bash
# Copy what building the wheel reads (pyproject.toml, README.md, LICENSE, the package) into DIR, so that a
# build never writes into the checkout. setuptools leaves airflow_provider_feishu_workplace.egg-info behind,
# and an egg-info at the checkout's root is a second copy of the package's entry points for every process
# started there: Airflow then finds the store-app plugin twice, and its task runner stops registering the
# plugins that come after a duplicate (OpenLineage's among them). See also the Makefile's install.
#   bash scripts/copy-build-source.sh DIR
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p "$1"
cp pyproject.toml README.md LICENSE "$1/"
cp -r airflow_provider_feishu_workplace "$1/"
find "$1" -name __pycache__ -prune -exec rm -rf {} +
