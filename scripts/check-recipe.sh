#!/usr/bin/env bash
# The production recipe of docs/production.md, tested the way an existing deployment meets it (make recipe):
#   1. a deployment: a fresh virtualenv with a plain `pip install apache-airflow==3.1.8` (no pins of ours);
#   2. the recipe: docs/production.md's command, pip install --constraint constraints/runtime/airflow-3.1.txt
#      "apache-airflow==3.1.8" "airflow-provider-feishu-workplace[s3,parquet,redis]", as written there (the
#      provider's name replaced by this checkout's wheel);
#   3. checks: Airflow and every provider the deployment had keep their versions, `airflow providers list`
#      lists the provider, and a pull through the installed hook from the served double succeeds.
# Everything lives under $RECIPE_DIR (default .recipe/ in the checkout, made afresh each run); only pip's
# own cache is shared, so a second run downloads nothing.
#
#   bash scripts/check-recipe.sh [PYTHON]     # PYTHON: a Python 3.11 to 3.13 (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-python3}
airflow_version=3.1.8
constraints=constraints/runtime/airflow-${airflow_version%.*}.txt
work=${RECIPE_DIR:-$PWD/.recipe}
say() { echo "check-recipe: $*"; }
fail() { say "FAILED: $*" >&2; exit 1; }
pip_quiet() {  # pip_quiet LOG ARGS...: pip install into the recipe's venv, its output in LOG (tail on failure)
    local log=$1; shift
    "$venv/bin/python" -m pip install --progress-bar off --disable-pip-version-check "$@" >"$log" 2>&1 \
        || { tail -n 30 "$log" >&2; fail "pip install $* (log: $log)"; }
}
versions() {  # Airflow's distributions and their versions, one "name==version" a line
    "$venv/bin/python" -m pip list --format freeze --disable-pip-version-check | grep -i '^apache-airflow' | sort
}

test -f "$constraints" || fail "no $constraints"
rm -rf "$work"
mkdir -p "$work/dist" "$work/airflow-home"
venv=$work/venv

# 1. The deployment as it stands.
"$python" -m venv "$venv"
say "installing apache-airflow==$airflow_version alone (log: $work/airflow.log)"
pip_quiet "$work/airflow.log" "apache-airflow==$airflow_version"
versions >"$work/before.txt"
say "the deployment has $(wc -l <"$work/before.txt") Airflow distributions"

# 2. The recipe: docs/production.md's pip command as written, with this checkout's wheel standing in for the
#    release on PyPI.
bash scripts/copy-build-source.sh "$work/source"
"$venv/bin/python" -m pip wheel --no-deps --disable-pip-version-check --wheel-dir "$work/dist" "$work/source" >"$work/wheel.log" 2>&1 \
    || { tail -n 30 "$work/wheel.log" >&2; fail "building the wheel"; }
wheel=$(ls "$work"/dist/airflow_provider_feishu_workplace-*.whl)
recipe=$(grep -m 1 "^pip install --constraint $constraints \"apache-airflow==$airflow_version\" " docs/production.md) \
    || fail "docs/production.md shows no \`pip install --constraint $constraints \"apache-airflow==$airflow_version\" ...\` line"
say "the recipe (docs/production.md): $recipe"
eval "set -- ${recipe#pip install }"
args=()
for arg in "$@"; do args+=("${arg/#airflow-provider-feishu-workplace[/$wheel[}"); done
pip_quiet "$work/recipe.log" "${args[@]}"
versions >"$work/after.txt"

# 3. Nothing of Airflow moved; the provider is found and works.
moved=$(comm -23 "$work/before.txt" "$work/after.txt")
[[ -z $moved ]] || fail "the recipe changed Airflow's own distributions (before -> after):
$moved
$(comm -13 "$work/before.txt" "$work/after.txt")"
say "Airflow and its $(wc -l <"$work/before.txt") distributions kept their versions; added: $(comm -13 "$work/before.txt" "$work/after.txt" | tr '\n' ' ')"
export AIRFLOW_HOME=$work/airflow-home
listed=$(cd "$work" && "$venv/bin/airflow" providers list --output json 2>"$work/providers.log") \
    || { tail -n 20 "$work/providers.log" >&2; fail "airflow providers list"; }
"$venv/bin/python" -c '
import json, sys
listed = {entry["package_name"]: entry["version"] for entry in json.loads(sys.argv[1])}
version = listed.get("airflow-provider-feishu-workplace")
if version is None:
    sys.exit(f"airflow providers list does not list airflow-provider-feishu-workplace: {sorted(listed)}")
print(f"check-recipe: airflow providers list: airflow-provider-feishu-workplace {version}")
' "$listed" || fail "the provider is not listed"
# A pull from the double (served by the installed package on loopback) through the installed hook.
(cd "$work" && "$venv/bin/python" - <<'PY') || fail "a pull from the double through the installed provider"
import datetime as dt

from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
from airflow_provider_feishu_workplace.testing import FeishuDouble

day = dt.date.today() - dt.timedelta(days=2)
with FeishuDouble() as double, double.connection_env("feishu_default"):
    items = list(FeishuWorkplaceHook().iter_access_data("block", day, day))
    expected = double.expected_items("block", day, day)
assert items and items == expected, (len(items), len(expected))
print(f"check-recipe: pulled {len(items)} block items for {day} from the double, equal to its data")
PY
say "passed"
