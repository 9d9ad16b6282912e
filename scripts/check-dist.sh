#!/usr/bin/env bash
# Build and check a release's files (make dist; docs/releasing.md):
#   1. sdist and wheel with `python -m build` (the wheel is built from the sdist, so the sdist builds);
#   2. both pass `twine check --strict`, and their names carry the package's __version__;
#   3. the sdist holds what building and testing need (every file git knows of, in a checkout);
#   4. each is installed into a fresh virtualenv with CONSTRAINTS, imported, and found by
#      `airflow providers list` (AIRFLOW_HOME in a temporary folder) at that version.
# The files stay in $DIST_DIR (default dist/) for `twine upload`.
#
#   bash scripts/check-dist.sh PYTHON CONSTRAINTS
#   PYTHON: a Python with `build` and `twine` (the [test] extra has both); CONSTRAINTS: constraints/airflow-X.Y.txt
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:?usage: check-dist.sh PYTHON CONSTRAINTS}
constraints=${2:?usage: check-dist.sh PYTHON CONSTRAINTS}
dist=${DIST_DIR:-dist}
say() { echo "check-dist: $*"; }
fail() { say "FAILED: $*" >&2; exit 1; }

test -f "$constraints" || fail "no constraints file $constraints"
version=$("$python" -c 'import re, sys; print(re.search(r"^__version__ = \"(.+)\"$", open(sys.argv[1]).read(), re.M).group(1))' \
    airflow_provider_feishu_workplace/__init__.py)
work=$(mktemp -d "${TMPDIR:-/tmp}/feishu-dist-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

# 1. Build. Old files of this version would be checked and uploaded along with the new ones: start clean.
rm -f "$dist"/airflow_provider_feishu_workplace-"$version"[.-]*
"$python" -m build --outdir "$dist" . >"$work/build.log" 2>&1 || { tail -n 30 "$work/build.log" >&2; fail "python -m build"; }
rm -rf airflow_provider_feishu_workplace.egg-info  # see scripts/copy-build-source.sh
sdist=$dist/airflow_provider_feishu_workplace-$version.tar.gz
wheel=$dist/airflow_provider_feishu_workplace-$version-py3-none-any.whl
for file in "$sdist" "$wheel"; do
    test -f "$file" || fail "python -m build made no $file (is __version__ $version what setuptools read?); $(ls "$dist")"
done
say "built $sdist and $wheel"

# 2. The metadata PyPI renders (README as the long description) and checks.
"$python" -m twine check --strict "$sdist" "$wheel" || fail "twine check --strict"

# 3. The sdist's contents: what tests and builds read, and in a checkout every file git knows of.
"$python" - "$sdist" "$version" <<'EOF' || fail "the sdist lacks files (above)"
import subprocess, sys, tarfile
sdist, version = sys.argv[1:]
root = f"airflow_provider_feishu_workplace-{version}/"
with tarfile.open(sdist) as tar:
    names = {member.name.removeprefix(root) for member in tar.getmembers() if member.isfile()}
required = ["pyproject.toml", "MANIFEST.in", "Makefile", "README.md", "CHANGELOG.md", "LICENSE", ".ci/run",
            "airflow_provider_feishu_workplace/__init__.py", "constraints/compile.sh"]
folders = ["tests/", "dags/", "docs/", "constraints/runtime/", "scripts/", "airflow_provider_feishu_workplace/docs/"]
missing = [name for name in required if name not in names]
missing += [folder for folder in folders if not any(name.startswith(folder) for name in names)]
try:
    known = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], capture_output=True,
                           text=True, check=True).stdout.split("\n")
except (OSError, subprocess.CalledProcessError):
    known = []  # not a git checkout (an unpacked sdist): the list above is the check
missing += sorted(name for name in known if name and name not in names)
stray = sorted(name for name in names if "__pycache__" in name or name.endswith((".pyc", ".pyo")))
for name in missing:
    print(f"check-dist: not in the sdist: {name}", file=sys.stderr)
for name in stray:
    print(f"check-dist: stray file in the sdist: {name}", file=sys.stderr)
sys.exit(1 if missing or stray else 0)
EOF
say "the sdist holds the sources, tests, DAGs, docs, constraints and scripts"

# 4. Each file into a virtualenv of its own, as a user installs it, pinned for speed and determinism.
for file in "$wheel" "$sdist"; do
    kind=${file##*.}; kind=${kind/gz/sdist}; kind=${kind/whl/wheel}
    venv=$work/venv-$kind
    "$python" -m venv "$venv"
    say "installing the $kind with --constraint $constraints (log: $work/install-$kind.log while it runs)"
    "$venv/bin/python" -m pip install --progress-bar off --disable-pip-version-check --constraint "$constraints" \
        "$file" >"$work/install-$kind.log" 2>&1 || { tail -n 30 "$work/install-$kind.log" >&2; fail "pip install $file"; }
    (cd "$work" && "$venv/bin/python" -c "
import airflow_provider_feishu_workplace as package
from airflow_provider_feishu_workplace.operators.feishu_workplace import FeishuWorkplaceAccessOperator  # noqa: F401
assert package.__version__ == '$version', package.__version__
assert '/site-packages/' in package.__file__, package.__file__
") || fail "importing the provider installed from the $kind"
    listed=$(cd "$work" && AIRFLOW_HOME="$work/airflow-home-$kind" "$venv/bin/airflow" providers list --output json 2>/dev/null) \
        || fail "airflow providers list (with the $kind installed)"
    "$venv/bin/python" -c "
import json, sys
rows = json.loads(next(line for line in sys.stdin.read().splitlines() if line.startswith('[')))
found = {row['package_name']: row['version'] for row in rows}
name = 'airflow-provider-feishu-workplace'
sys.exit(None if found.get(name) == '$version' else f'airflow providers list shows {name} as {found.get(name)!r}, not $version')
" <<<"$listed" || fail "the provider from the $kind is not listed at $version"
    say "the $kind installs, imports and is listed by airflow providers list at $version"
done
say "OK: $sdist and $wheel are ready (twine upload $sdist $wheel)"
