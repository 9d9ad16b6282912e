"""The structure rules, held to the code (scripts/structure.py draws the graph they are read from)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "structure.py"


@pytest.fixture(scope="module")
def structure():
    spec = importlib.util.spec_from_file_location("structure", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["structure"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    del sys.modules["structure"]


def imported_by(structure, importer: str) -> set[str]:
    return {edge.imported for edge in structure.import_graph() if edge.importer == importer}


def test_the_package_root_holds_no_private_module_beyond_the_package_wide_ones(structure):
    root_private = {
        path.stem for path in structure.PACKAGE_DIR.glob("_*.py") if path.stem not in ("__init__", "__main__")
    }

    assert root_private <= structure.PACKAGE_WIDE_PRIVATE


def test_the_generic_hook_imports_nothing_of_the_workplace_api(structure):
    workplace = {"endpoints", "days", "items", "outputs", "operators", "sensors", "triggers", "feishu_workplace"}

    imported = imported_by(structure, "airflow_provider_feishu_workplace.hooks.feishu")

    assert imported, "the graph found no import at all: the reader is broken"
    assert {name for name in imported if set(name.split(".")) & workplace} == set()


def test_the_sensor_and_the_trigger_do_not_import_the_operators(structure):
    for module in ("sensors.feishu_workplace", "triggers.feishu_workplace"):
        imported = imported_by(structure, f"airflow_provider_feishu_workplace.{module}")
        assert [name for name in imported if ".operators" in name] == [], module


def test_no_module_level_import_cycle(structure):
    assert structure.cycles(structure.import_graph()) == []


def test_no_import_circle_even_through_lazy_imports(structure):
    assert structure.cycles(structure.import_graph(), lazy_too=True) == []


def test_the_reader_sees_lazy_and_module_level_imports_apart(structure, tmp_path, monkeypatch):
    package = tmp_path / "airflow_provider_feishu_workplace"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from airflow_provider_feishu_workplace import b\n")
    (package / "b.py").write_text("def f():\n    from airflow_provider_feishu_workplace.a import x\n")
    monkeypatch.setattr(structure, "PACKAGE_DIR", package)

    edges = {(e.importer.rpartition(".")[2], e.imported.rpartition(".")[2], e.lazy) for e in structure.import_graph()}

    assert edges == {("a", "b", False), ("b", "a", True)}
    assert structure.cycles(structure.import_graph()) == []
    assert structure.cycles(structure.import_graph(), lazy_too=True) == [[f"{package.name}.{m}" for m in "aba"]]
