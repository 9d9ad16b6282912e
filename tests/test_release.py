"""A release holds together: one version everywhere, a CHANGELOG that says which and why, runtime pins apart
from test pins, and what make dist builds and checks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import airflow_provider_feishu_workplace
from airflow_provider_feishu_workplace.get_provider_info import get_provider_info

ROOT = Path(__file__).resolve().parent.parent
CHANGELOG = (ROOT / "CHANGELOG.md").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = airflow_provider_feishu_workplace.__version__
AIRFLOWS = sorted(p.name[len("airflow-") : -len(".in")] for p in (ROOT / "constraints").glob("airflow-*.in"))
RELEASE_HEADING = re.compile(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$")
# What only tests, lint, the example DAGs or a release need: never in production pins. (Not the sqlite
# provider: Airflow 2.11 itself installs it.)
NOT_RUNTIME = {
    "pytest",
    "pytest-timeout",
    "moto",
    "lark-oapi",
    "ruff",
    "build",
    "twine",
    "playwright",
    "celery",
    "apache-airflow-providers-celery",
    "apache-airflow-providers-openlineage",
    "apache-airflow-providers-postgres",
    "airflow-provider-feishu-workplace",
}


def changelog_entries() -> list[tuple[str, str, str]]:
    """Return the CHANGELOG's ``## `` sections as (version or "Unreleased", date or "", body), top first."""
    entries = []
    for section in CHANGELOG.split("\n## ")[1:]:
        heading, _, body = section.partition("\n")
        if heading == "[Unreleased]":
            entries.append(("Unreleased", "", body))
            continue
        match = RELEASE_HEADING.match(f"## {heading}")
        assert match, f"CHANGELOG heading '## {heading}' is neither [Unreleased] nor '[X.Y.Z] - YYYY-MM-DD'"
        entries.append((match.group(1), match.group(2), body))
    return entries


def releases() -> list[tuple[str, str, str]]:
    return [entry for entry in changelog_entries() if entry[0] != "Unreleased"]


def test_one_version_in_the_package_its_metadata_provider_info_and_changelog():
    assert installed_version("airflow-provider-feishu-workplace") == VERSION, "reinstall: pip install -e ."
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "airflow_provider_feishu_workplace.__version__"
    }
    assert get_provider_info()["versions"][0] == VERSION
    assert releases()[0][0] == VERSION, "the CHANGELOG's newest release is not __version__"


def test_provider_info_lists_every_released_version_newest_first():
    assert get_provider_info()["versions"] == [version for version, _, _ in releases()]


def test_changelog_keeps_unreleased_on_top_and_releases_newest_first():
    entries = changelog_entries()
    assert [version for version, _, _ in entries].count("Unreleased") <= 1
    assert all(version != "Unreleased" for version, _, _ in entries[1:]), "[Unreleased] must be the top section"
    versions = [Version(version) for version, _, _ in releases()]
    dates = [date for _, date, _ in releases()]
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions)
    assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize("newer, older", list(zip(releases(), releases()[1:], strict=False)), ids=lambda e: e[0])
def test_each_release_bumps_as_semantic_versioning_asks_for_its_changes(newer, older):
    new, old = Version(newer[0]), Version(older[0])
    if "**Breaking**" in newer[2]:
        # Below 1.0.0 a breaking change bumps the minor version (0.1.x -> 0.2.0); from 1.0.0 the major.
        if old.major == 0:
            assert (new.major, new.minor, new.micro) >= (0, old.minor + 1, 0) and new.micro == 0, (new, old)
        else:
            assert new.major == old.major + 1 and (new.minor, new.micro) == (0, 0), (new, old)
    elif "### Added" in newer[2]:
        assert new.release[:2] > old.release[:2] and new.micro == 0, f"{new}: new features bump the minor version"
    else:
        assert new > old


def test_the_built_wheel_carries_the_version_and_the_logo(tmp_path):
    # From a copy: setuptools never empties build/lib, so a build in the checkout could ship deleted modules.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(
        ROOT / "airflow_provider_feishu_workplace",
        source / "airflow_provider_feishu_workplace",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    # --no-isolation: the venv's setuptools builds it, no download (the sdist and isolation are make dist's).
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = tmp_path.glob("*.whl")
    assert wheel.name == f"airflow_provider_feishu_workplace-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"airflow_provider_feishu_workplace-{VERSION}.dist-info/METADATA").decode()
    assert f"\nVersion: {VERSION}\n" in metadata
    logo = get_provider_info()["integrations"][0]["logo"]
    assert logo.removeprefix("/") in names


def test_make_dist_runs_the_dist_check_with_the_venv_and_its_constraints():
    # Not the AIRFLOW (or RESOLUTION) of a `make test AIRFLOW=...` running this (make passes them on in MAKEFLAGS).
    env = {
        k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "AIRFLOW", "RESOLUTION")
    }
    for airflow in ("3.3", "2.11"):
        out = subprocess.run(
            ["make", "-n", "dist", f"AIRFLOW={airflow}"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        ).stdout
        script = f"bash scripts/check-dist.sh .venv-airflow-{airflow}/bin/python constraints/airflow-{airflow}.txt"
        assert script in out, out
    extras = [Requirement(r).name for r in PYPROJECT["project"]["optional-dependencies"]["test"]]
    assert {"build", "twine"} <= set(extras)


def test_sdist_manifest_takes_what_tests_and_builds_read():
    manifest = (ROOT / "MANIFEST.in").read_text()
    for folder in ("tests", "dags", "docs", "constraints", "scripts", ".ci"):
        assert f"graft {folder}\n" in manifest, folder
    included = re.search(r"^include (.+)$", manifest, re.M).group(1).split()
    assert {"Makefile", "README.md", "CHANGELOG.md", "LICENSE"} <= set(included)


def test_releasing_doc_names_each_step():
    doc = (ROOT / "docs" / "releasing.md").read_text()
    for step in ("__version__", "CHANGELOG.md", "make dist", "git tag -a v", "twine upload"):
        assert step in doc, step


def _pins(path: Path) -> dict[str, set[str]]:
    """Every pinned release in a constraints file by package name (markers ignored: a name may have two)."""
    pins: dict[str, set[str]] = {}
    for line in path.read_text().splitlines():
        if not line or line.startswith((" ", "#")):
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", line
        pins.setdefault(requirement.name.lower().replace("_", "-"), set()).add(specifier.version)
    return pins


def test_a_runtime_constraints_file_per_supported_airflow():
    runtime = sorted(p.name[len("airflow-") : -len(".txt")] for p in (ROOT / "constraints" / "runtime").glob("*.txt"))
    assert runtime == AIRFLOWS
    script = (ROOT / "constraints" / "compile-runtime.sh").read_text()
    assert "--extra s3 --extra parquet --extra redis" in script and "--constraint $tested" in script


@pytest.mark.parametrize("airflow", AIRFLOWS)
def test_runtime_pins_are_tested_releases_of_what_production_installs(airflow):
    path = ROOT / "constraints" / "runtime" / f"airflow-{airflow}.txt"
    runtime, tested = _pins(path), _pins(ROOT / "constraints" / f"airflow-{airflow}.txt")
    header = path.read_text().split("\n\n", 1)[0]
    assert f"--constraint constraints/airflow-{airflow}.txt pyproject.toml constraints/airflow-{airflow}.in" in header
    release = re.search(r"^apache-airflow==(\S+)$", (ROOT / "constraints" / f"airflow-{airflow}.in").read_text(), re.M)
    assert runtime["apache-airflow"] == {release.group(1)}
    assert not NOT_RUNTIME & set(runtime), sorted(NOT_RUNTIME & set(runtime))
    untested = {name: versions for name, versions in runtime.items() if not versions <= tested.get(name, set())}
    assert not untested, f"{path.name} pins releases the tests did not run with: {untested}"
    project = PYPROJECT["project"]
    wanted = project["dependencies"] + [
        r for extra in ("s3", "parquet", "redis") for r in project["optional-dependencies"][extra]
    ]
    for requirement in map(Requirement, wanted):
        versions = runtime.get(requirement.name.lower())
        assert versions, f"{path.name} pins no {requirement.name}"
        assert all(requirement.specifier.contains(v) for v in versions), f"{requirement} vs {versions} ({path.name})"
