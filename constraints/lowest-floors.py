"""Print ``name==<lower bound>`` for each runtime dependency in a pyproject.toml (the `--lowest` constraints).

The runtime dependencies are ``[project] dependencies`` and the extras a user installs: every extra but
``test`` and ``examples``. Airflow itself is left out (constraints/airflow-<X.Y>.in pins it), and so is a
dependency without a ``>=`` bound.

    python3 constraints/lowest-floors.py pyproject.toml
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

NOT_RUNTIME = ("test", "examples")
REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(\[[^]]*\])?\s*(?P<spec>[^;]*)")

project = tomllib.loads(Path(sys.argv[1]).read_text())["project"]
requirements = list(project["dependencies"])
for extra, extra_requirements in project.get("optional-dependencies", {}).items():
    if extra not in NOT_RUNTIME:
        requirements += extra_requirements
for requirement in requirements:
    match = REQUIREMENT.match(requirement)
    lower = re.search(r">=\s*([0-9][^,\s]*)", match["spec"]) if match else None
    if match and lower and match["name"] not in ("apache-airflow", project["name"]):
        print(f"{match['name']}=={lower.group(1)}")
