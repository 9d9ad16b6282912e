#!/usr/bin/env bash
# Install the built wheel as a user would: `pip install "<wheel>[s3]"` into a fresh virtualenv, with that
# venv's own stock pip and no constraints file. Fails if the install fails, takes more than
# $WHEEL_INSTALL_LIMIT seconds (default 180), or if the wheel's METADATA does not say Requires-Python >=3.11.
#
#   bash scripts/check-wheel-install.sh [PYTHON]      (default: python3; make check-wheel PYTHON=...)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-python3}
limit=${WHEEL_INSTALL_LIMIT:-180}

work=$(mktemp -d "${TMPDIR:-/tmp}/feishu-wheel-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
say() { echo "check-wheel: $*"; }

"$python" -m venv "$work/build-venv"
bash scripts/copy-build-source.sh "$work/source"
"$work/build-venv/bin/python" -m pip wheel --no-deps --progress-bar off --disable-pip-version-check \
    --wheel-dir "$work/dist" "$work/source" >"$work/build.log" 2>&1 || { tail -n 30 "$work/build.log" >&2; say "building the wheel failed"; exit 1; }
wheel=$(ls "$work"/dist/airflow_provider_feishu_workplace-*.whl)
say "built $(basename "$wheel") with $("$python" --version 2>&1)"

requires_python=$("$work/build-venv/bin/python" - "$wheel" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    lines = wheel.read(name).decode().splitlines()
print(next((line for line in lines if line.startswith("Requires-Python:")), "Requires-Python: (missing)"))
EOF
)
if [[ $requires_python != "Requires-Python: >=3.11" ]]; then
    say "METADATA says '$requires_python', expected 'Requires-Python: >=3.11'"; exit 1
fi
say "METADATA: $requires_python"

"$python" -m venv "$work/venv"
pip_version=$("$work/venv/bin/python" -m pip --version | cut -d' ' -f1-2)
say "installing ${wheel##*/}[s3] with the new venv's $pip_version, no constraints (limit ${limit}s)"
start=$(date +%s)
set +e
timeout "$limit" "$work/venv/bin/python" -m pip install --progress-bar off --disable-pip-version-check \
    "$wheel[s3]" >"$work/install.log" 2>&1
status=$?
set -e
seconds=$(( $(date +%s) - start ))
kept_log="${TMPDIR:-/tmp}/feishu-wheel-check-$("$work/venv/bin/python" -c 'import sys; print("py%d.%d" % sys.version_info[:2])').log"
cp "$work/install.log" "$kept_log"
say "pip fetched $(grep -cE '^\s*(Downloading|Using cached)' "$kept_log") files, $(grep -cE '^\s*(Downloading|Using cached) boto3-' "$kept_log") of them boto3 releases; log: $kept_log"
if [[ $status -eq 124 ]]; then
    grep -E "^Collecting|INFO: pip is looking" "$work/install.log" | tail -n 15 >&2
    say "FAILED: pip was still resolving after ${seconds}s (limit ${limit}s); the last packages it looked at are above"
    exit 1
elif [[ $status -ne 0 ]]; then
    tail -n 30 "$work/install.log" >&2
    say "FAILED: pip install exited $status after ${seconds}s"
    exit 1
fi
AIRFLOW_HOME="$work/airflow-home" "$work/venv/bin/python" - <<'EOF'
from importlib.metadata import version
import s3fs  # noqa: F401  (the [s3] extra is usable)
from airflow_provider_feishu_workplace.operators.feishu_workplace import FeishuWorkplaceAccessOperator  # noqa: F401
print("check-wheel: imports ok; " + ", ".join(
    f"{name} {version(name)}" for name in ("apache-airflow", "apache-airflow-providers-amazon", "s3fs", "aiobotocore", "boto3")))
EOF
say "OK: installed in ${seconds}s (limit ${limit}s)"
