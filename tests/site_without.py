"""This environment's site-packages without some distributions, to run code as if they were not installed.

``site_without(folder, prefixes, airflow_providers)`` builds, in ``folder``, symlinks to every entry of the
real site-packages except those whose names start with one of ``prefixes`` (packages and their
``.dist-info``), and except ``airflow/providers/<name>`` for each of ``airflow_providers``. A process started
with ``python -S`` that calls ``site.addsitedir(folder)`` then has no such module, no metadata and no entry
point: blocking imports alone would leave Airflow's provider discovery finding the entry point.
"""

from __future__ import annotations

import site
from pathlib import Path


def site_packages() -> Path:
    """The site-packages directory that holds Airflow."""
    [path] = [Path(p) for p in site.getsitepackages() if Path(p, "airflow").is_dir()]
    return path


def site_without(folder: Path, prefixes: tuple[str, ...], airflow_providers: tuple[str, ...] = ()) -> Path:
    """Fill ``folder`` with the site-packages minus ``prefixes`` and ``airflow_providers``; return it."""
    real = site_packages()
    for entry in real.iterdir():
        if entry.name.startswith(prefixes):
            continue
        if entry.name != "airflow" or not airflow_providers:
            (folder / entry.name).symlink_to(entry)
            continue
        (folder / "airflow").mkdir()
        for child in entry.iterdir():
            if child.name != "providers":
                (folder / "airflow" / child.name).symlink_to(child)
        (folder / "airflow" / "providers").mkdir()
        for provider in (entry / "providers").iterdir():
            if provider.name not in airflow_providers:
                (folder / "airflow" / "providers" / provider.name).symlink_to(provider)
    return folder
