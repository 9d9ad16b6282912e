"""The install story holds together: docs/supported-versions.md's table, the constraints files, the Makefile,
the CI matrix in .ci/run and the package's metadata all say the same thing, so none of them can drift."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

import airflow_provider_feishu_workplace

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# The pages that hold the facts checked here (README links to them).
SUPPORTED_VERSIONS_DOC = (DOCS / "supported-versions.md").read_text()
PARTITION_TESTS = "PYTEST_ARGS=tests/dags/test_partitions.py"
CI_DOC = (DOCS / "ci.md").read_text()
INSTALL_DOC = (DOCS / "install.md").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
MAKEFILE = (ROOT / "Makefile").read_text()
CI_RUN = (ROOT / ".ci" / "run").read_text()
CONSTRAINTS = {p.name[len("airflow-") : -len(".txt")]: p for p in (ROOT / "constraints").glob("airflow-*.txt")}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _support_table() -> tuple[list[str], dict[str, dict[str, str]]]:
    """Return (Airflow columns, {row label: {airflow: cell}}) of docs/supported-versions.md's first table."""
    lines = SUPPORTED_VERSIONS_DOC.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = list(itertools.takewhile(lambda line: line.startswith("|"), lines[start:]))
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header[0] == "Python \\ Airflow", header
    table = {}
    for row in rows[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        table[cells[0]] = dict(zip(header[1:], cells[1:], strict=True))
    return header[1:], table


AIRFLOWS, TABLE = _support_table()
PINNED = TABLE.pop("pinned release")
# "3.11 (3.11.2 and newer)" -> "3.11"
SUPPORT = {label.split()[0]: cells for label, cells in TABLE.items()}
PYTHONS = sorted(SUPPORT, key=_version_key)


def _pins(path: Path, python_full_version: str) -> dict[str, str]:
    """The pins of a constraints file that apply on one Python version (markers evaluated), by name."""
    env = {
        "python_full_version": python_full_version,
        "python_version": python_full_version.rsplit(".", 1)[0],
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
    }
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line or line.startswith((" ", "#")):
            continue
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate(env):
            continue
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", line
        name = requirement.name.lower().replace("_", "-")
        assert name not in pins, f"{path.name}: two pins for {name} on Python {python_full_version}"
        pins[name] = specifier.version
    return pins


def _ci_matrix() -> list[tuple[str, str, list[str]]]:
    block = re.search(r"^MATRIX=\(\n(.*?)^\)", CI_RUN, re.S | re.M).group(1)
    entries = re.findall(r'^\s*"(\S+)\s+(\S+)\s+([^"]+)"', block, re.M)
    assert entries, "no MATRIX entries found in .ci/run"
    return [(airflow, python, targets.split()) for airflow, python, targets in entries]


def _python_minor(name: str) -> str:
    """The X.Y of a Python that .ci/run names ("default", "debian" or "3.13"), as it runs here."""
    if re.fullmatch(r"3\.\d+", name):
        return name
    executable = {"default": shutil.which("python3"), "debian": "/usr/bin/python3"}[name]
    if not executable or not Path(executable).exists():
        pytest.skip(f".ci/run's Python {name!r} is not on this machine")
    out = subprocess.run(
        [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_readme_table_has_a_constraints_file_per_airflow_column():
    assert sorted(CONSTRAINTS, key=_version_key) == AIRFLOWS
    for airflow, path in CONSTRAINTS.items():
        source = path.with_suffix(".in").read_text()
        assert f"apache-airflow=={PINNED[airflow]}\n" in source, f"{path.with_suffix('.in').name}"
        # The header says how to regenerate the file, with the exact command.
        command = "uv pip compile --universal --python-version 3.11 --extra test pyproject.toml"
        assert f"{command} constraints/airflow-{airflow}.in" in path.read_text()


@pytest.mark.parametrize("airflow", sorted(CONSTRAINTS, key=_version_key))
def test_constraints_pin_one_release_of_each_package_on_every_supported_python(airflow):
    path = CONSTRAINTS[airflow]
    # Debian 12's 3.11.2, the newest 3.11 and the first release of each newer minor marked "yes".
    versions = ["3.11.2", "3.11.14"] + [f"{minor}.0" for minor in PYTHONS if minor != "3.11"]
    for python in versions:
        minor = python.rsplit(".", 1)[0]
        if SUPPORT[minor][airflow] != "yes":
            continue
        pins = _pins(path, python)
        assert pins["apache-airflow"] == PINNED[airflow], (airflow, python)
        for package in (
            "apache-airflow-providers-common-compat",
            "apache-airflow-providers-amazon",
            "s3fs",
            "pytest",
            "celery",
            "redis",
            "apache-airflow-providers-celery",
        ):
            assert package in pins, f"{path.name} pins no {package} for Python {python}"
        # soupsieve 4 needs Python >= 3.11.5: Debian's 3.11.2 must get a 2.x (what broke `make test` there).
        if python == "3.11.2":
            assert _version_key(pins["soupsieve"])[0] < 4, pins["soupsieve"]


def test_project_requirements_admit_every_pinned_release():
    requirements = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    for airflow, path in CONSTRAINTS.items():
        pins = _pins(path, "3.12.0")
        for requirement in requirements:
            name = requirement.name.lower()
            assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} ({path.name}) vs {requirement}"


def test_pyproject_metadata_matches_the_table():
    project = PYPROJECT["project"]
    assert project["requires-python"] == f">={PYTHONS[0]}"
    supported = {minor for minor, cells in SUPPORT.items() if "yes" in cells.values()}
    classified = {
        c.rsplit(" :: ", 1)[1]
        for c in project["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert classified == supported == set(PYTHONS)
    assert "Framework :: Apache Airflow" in project["classifiers"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    airflow = next(Requirement(r) for r in project["dependencies"] if r.startswith("apache-airflow>"))
    assert airflow.specifier == SpecifierSet(f">={AIRFLOWS[0]}")
    assert (ROOT / "LICENSE").read_text().split()[:4] == ["Apache", "License", "Version", "2.0,"]


def test_installed_metadata_says_the_same():
    meta = metadata("airflow-provider-feishu-workplace")
    assert meta["Requires-Python"] == f">={PYTHONS[0]}"
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["Version"] == airflow_provider_feishu_workplace.__version__


def test_makefile_defaults_to_the_newest_airflow_and_knows_which_lack_python_3_13():
    assert re.search(r"^AIRFLOW \?= (\S+)$", MAKEFILE, re.M).group(1) == AIRFLOWS[-1]
    below_313 = re.search(r"^PYTHON_MAX := \$\(if \$\(filter ([^,]+),\$\(AIRFLOW\)\),3\.12,3\.13\)$", MAKEFILE, re.M)
    assert below_313, "Makefile's PYTHON_MAX line changed: update this test"
    assert set(below_313.group(1).split()) == {a for a in AIRFLOWS if SUPPORT["3.13"][a] != "yes"}


def test_make_rejects_an_unknown_airflow_with_the_valid_ones():
    result = subprocess.run(["make", "-n", "install", "AIRFLOW=2.10"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert "AIRFLOW=2.10 is not a supported Airflow version: use one of " + " ".join(AIRFLOWS) in result.stderr


def test_install_doc_names_the_wheel_that_is_built():
    version = airflow_provider_feishu_workplace.__version__
    wheels = set(re.findall(r"airflow_provider_feishu_workplace-(\S+?)-py3-none-any\.whl", INSTALL_DOC))
    assert wheels == {version}


def test_ci_matrix_runs_only_supported_cells_and_covers_every_airflow():
    matrix = _ci_matrix()
    covered = set()
    for airflow, python, targets in matrix:
        minor = _python_minor(python)
        if targets == ["wheel"]:
            assert airflow == "-" and minor in SUPPORT, (python, minor)
            continue
        assert set(targets) <= {"test", "demo", "e2e", "partitions"}, targets
        assert SUPPORT[minor][airflow] == "yes", f".ci/run runs Airflow {airflow} on Python {minor}: not in the table"
        covered.add(airflow)
    assert covered == set(AIRFLOWS)
    # The full suite on the default (newest) Airflow, and on 2.11 and 3.0 as the issue asks.
    assert {a for a, _, t in matrix if "test" in t} >= {AIRFLOWS[-1], "2.11", "3.0"}
    # make e2e (the live stack) on the newest Airflow, right after its suite.
    assert [a for a, _, t in matrix if "e2e" in t] == [AIRFLOWS[-1]]
    names = {python for _, python, _ in matrix}
    assert {"debian", "3.13"} <= names


def test_ci_doc_lists_the_matrix_that_runs():
    section = CI_DOC
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("|")
    ][2:]
    described = {}
    for airflow, python, steps in rows:
        steps = steps.replace(f"make test {PARTITION_TESTS}", "make partitions")  # .ci/run's "partitions"
        targets = sorted(re.findall(r"make (test|demo|e2e|partitions)\b", steps)) or ["wheel"]
        described[(airflow.replace("—", "-"), targets[0] if targets == ["wheel"] else " ".join(targets))] = python
    running = {}
    for airflow, python, targets in _ci_matrix():
        key = (airflow, " ".join(sorted(targets)))
        if targets == ["wheel"]:
            key = ("-", "wheel")
        running.setdefault(key, []).append(python)
    assert set(described) == set(running)
    for (airflow, targets), pythons in running.items():
        text = described[(airflow, targets)]
        for python in pythons:
            assert {"debian": "Debian", "3.13": "3.13", "3.12": "3.12", "default": "python3"}[python] in text, (
                airflow,
                targets,
                python,
                text,
            )


def test_ci_runs_the_suite_on_the_lowest_direct_dependencies_where_they_are_compiled():
    rows = re.search(r"^LOWEST_ROWS=\((.*?)\)$", CI_RUN, re.M)
    assert rows, ".ci/run names no LOWEST_ROWS"
    lowest = sorted(
        p.name[len("airflow-") : -len(".txt")] for p in (ROOT / "constraints" / "lowest").glob("airflow-*.txt")
    )
    assert sorted(rows.group(1).split()) == lowest == ["2.11", "3.0"]
    assert all("test" in targets for airflow, _, targets in _ci_matrix() if airflow in lowest)


@pytest.mark.parametrize("airflow", ["2.11", "3.0"])
def test_the_lowest_constraints_hold_each_runtime_dependency_at_its_lower_bound(airflow):
    """What CI's lowest rows prove: every runtime dependency (extras included) runs at pyproject's bound."""
    floors = subprocess.run(
        [sys.executable, "constraints/lowest-floors.py", "pyproject.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    pins = _pins(ROOT / "constraints" / "lowest" / f"airflow-{airflow}.txt", "3.11.2")
    assert "apache-airflow-providers-common-compat" in {Requirement(floor).name for floor in floors}
    for floor in floors:
        requirement = Requirement(floor)
        (bound,) = requirement.specifier
        assert Version(pins[requirement.name]) == Version(bound.version), (
            f"constraints/lowest/airflow-{airflow}.txt pins {requirement.name}=={pins[requirement.name]}, not its "
            f"lower bound {bound.version}: run bash constraints/compile.sh --lowest {airflow}"
        )


def test_make_takes_the_lowest_constraints_and_venv_for_resolution_lowest():
    dry_run = subprocess.run(
        ["make", "-n", "-B", "install", "AIRFLOW=2.11", "RESOLUTION=lowest"], cwd=ROOT, capture_output=True, text=True
    )
    assert "constraints/lowest/airflow-2.11.txt" in dry_run.stdout and ".venv-airflow-2.11-lowest" in dry_run.stdout
    refused = subprocess.run(
        ["make", "-n", "install", "AIRFLOW=3.3", "RESOLUTION=lowest"], cwd=ROOT, capture_output=True, text=True
    )
    assert refused.returncode != 0 and "RESOLUTION=lowest has no constraints for AIRFLOW=3.3" in refused.stderr
