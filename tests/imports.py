"""What importing a module loads, seen from a fresh interpreter (provider modules are imported at every parse)."""

from __future__ import annotations

import json
import subprocess
import sys


def modules_loaded_by(module: str, *, after: str = "") -> list[str]:
    """The modules that ``import module`` adds to a fresh interpreter's ``sys.modules``, sorted.

    :param after: statements run first, whose modules do not count (e.g. what a DAG file has loaded already).
    """
    code = "\n".join(
        ["import json, sys", after, "before = set(sys.modules)", f"import {module}"]
        + ["print(json.dumps(sorted(set(sys.modules) - before)))"]
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def outside_the_standard_library(modules: list[str]) -> list[str]:
    """``modules`` less those of Python's standard library (private ones such as ``_socket`` included)."""
    return [name for name in modules if name.split(".")[0].lstrip("_") not in sys.stdlib_module_names]
