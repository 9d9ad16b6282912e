"""The access-data search endpoints: one record each, read by the hook, the operators and the item checks.

Every fact about an endpoint lives in its :class:`SearchEndpoint` record, and nowhere else: its path,
page-size limit, id filter, the fields of its items and its "internal error, retry" code. Adding an
endpoint is one record, registered with :func:`register_endpoint` (see docs/adding-an-endpoint.md)::

    from airflow_provider_feishu_workplace.endpoints import WORKPLACE_SCOPE, SearchEndpoint, register_endpoint

    APP = register_endpoint(SearchEndpoint(
        name="app", path="/open-apis/workplace/v1/app_access_data/search", scope=WORKPLACE_SCOPE,
        max_page_size=200, id_field="app_id", counts_fields=("access_data",), internal_error_code=1630003,
    ))

Words: a *data set* is what one endpoint serves (``workplace``, ``custom_workplace``, ``block``), named by
its record's ``name``. Its public keyword and attribute stay ``dataset`` (operators, sensor, trigger,
hook: DAGs use them); private names and new code say ``data_set``. An Airflow *asset* (a ``Dataset`` on
Airflow 2) is what the operators update; an OpenLineage ``Dataset`` appears only in ``outputs/lineage.py``.

This module imports nothing heavy: DAG files import it at every parse.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass
from types import MappingProxyType
from typing import Any

from airflow_provider_feishu_workplace._arguments import whole_number
from airflow_provider_feishu_workplace.exceptions import FeishuConfigError

#: The scope the workplace access-data endpoints need.
WORKPLACE_SCOPE = "workplace:workplace_using_data:read"

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class SearchEndpoint:
    """One access-data search endpoint: ``POST`` with every parameter in the query string, items by day.

    Its items carry ``date`` (``YYYY-MM-DD``), the id field (if any) and one ``{pv, uv}`` object per
    counts field; the query takes ``from_date``, ``to_date``, ``page_size``, ``page_token`` and the id
    filter.

    :param name: the data set's name (``workplace``, ``block``, ...): what operators, asset URIs and
        messages call it.
    :param path: the API path, from ``/open-apis/``.
    :param max_page_size: the largest ``page_size`` the endpoint takes (also the default).
    :param id_field: the item field that, with ``date``, identifies an item, and the query parameter that
        filters on it; ``None`` when ``date`` alone identifies an item.
    :param counts_fields: the item fields holding ``{"pv": int, "uv": int}`` objects, all required.
    :param internal_error_code: the endpoint's documented "internal error, retry" code (retried like a
        5xx), or ``None`` when its documentation names none (required: a forgotten code would go unretried).
    :param scope: the app scope the endpoint needs, named when Feishu answers that the app lacks it
        (required; :data:`WORKPLACE_SCOPE` for the workplace endpoints).
    :param name_fields: item fields holding optional ``[{"language", "name"}]`` lists, checked when present.

    ``internal_error_code``, ``scope`` and ``name_fields`` are keyword-only.
    """

    name: str
    path: str
    max_page_size: int
    id_field: str | None
    counts_fields: tuple[str, ...]
    _: KW_ONLY
    internal_error_code: int | None
    scope: str
    name_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise FeishuConfigError(
                f"SearchEndpoint name={self.name!r} must be lower-case letters, digits and _ (a data set name)."
            )
        if not isinstance(self.path, str) or not self.path.startswith("/open-apis/") or "?" in self.path:
            raise FeishuConfigError(f"SearchEndpoint path={self.path!r} must start with /open-apis/ and hold no query.")
        whole_number("SearchEndpoint max_page_size", self.max_page_size)
        if self.internal_error_code is not None and (
            isinstance(self.internal_error_code, bool) or not isinstance(self.internal_error_code, int)
        ):
            raise FeishuConfigError(
                f"SearchEndpoint internal_error_code={self.internal_error_code!r} must be the endpoint's code "
                "(a whole number), or None when its documentation names none."
            )
        if not isinstance(self.scope, str) or not self.scope:
            raise FeishuConfigError(
                f"SearchEndpoint scope={self.scope!r} must name the app scope the endpoint needs "
                f"({WORKPLACE_SCOPE!r} for the workplace endpoints)."
            )
        for label, fields in (("counts_fields", self.counts_fields), ("name_fields", self.name_fields)):
            if not isinstance(fields, tuple) or not all(isinstance(field, str) and field for field in fields):
                raise FeishuConfigError(f"SearchEndpoint {label}={fields!r} must be a tuple of field names.")
        if not self.counts_fields:
            raise FeishuConfigError(f"SearchEndpoint {self.name!r} needs at least one counts field.")

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON values (field lists as lists), to rebuild with :meth:`from_dict`.

        A trigger carries its record this way: the triggerer never imports the DAG file that registered it.
        """
        return {
            "name": self.name,
            "path": self.path,
            "max_page_size": self.max_page_size,
            "id_field": self.id_field,
            "counts_fields": list(self.counts_fields),
            "name_fields": list(self.name_fields),
            "internal_error_code": self.internal_error_code,
            "scope": self.scope,
        }

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> SearchEndpoint:
        """Rebuild a record from :meth:`to_dict`'s values (checked as any record); registers nothing.

        :param fields: every field :meth:`to_dict` gives; an unknown or missing one is an error.
        """
        if not isinstance(fields, Mapping):
            raise FeishuConfigError(f"A SearchEndpoint is rebuilt from a dict of its fields, not {fields!r}.")
        known = {field.name for field in dataclasses.fields(cls)}
        if set(fields) != known:
            raise FeishuConfigError(
                f"A SearchEndpoint's fields are {sorted(known)}: got {sorted(fields)} "
                "(from SearchEndpoint.to_dict of another provider version?)."
            )
        values = dict(fields)
        for name in ("counts_fields", "name_fields"):
            if isinstance(values[name], list):
                values[name] = tuple(values[name])
        return cls(**values)

    @property
    def fields(self) -> tuple[str, ...]:
        """Every top-level field the record names: ``date``, the id field, counts and name fields."""
        return ("date", *((self.id_field,) if self.id_field else ()), *self.counts_fields, *self.name_fields)


WORKPLACE = SearchEndpoint(
    name="workplace",
    path="/open-apis/workplace/v1/workplace_access_data/search",
    max_page_size=200,
    id_field=None,
    counts_fields=("all_workplace", "default_workplace"),
    internal_error_code=1628003,
    scope=WORKPLACE_SCOPE,
)
CUSTOM_WORKPLACE = SearchEndpoint(
    name="custom_workplace",
    path="/open-apis/workplace/v1/custom_workplace_access_data/search",
    max_page_size=100,  # one Lark page documents 1-100 for this endpoint (200 elsewhere): stay within it
    id_field="custom_workplace_id",
    counts_fields=("access_data",),
    name_fields=("custom_workplace_name",),
    internal_error_code=1621003,
    scope=WORKPLACE_SCOPE,
)
BLOCK = SearchEndpoint(
    name="block",
    path="/open-apis/workplace/v1/workplace_block_access_data/search",
    max_page_size=200,
    id_field="block_id",
    counts_fields=("access_data",),
    internal_error_code=1629004,
    scope=WORKPLACE_SCOPE,
)

_REGISTRY: dict[str, SearchEndpoint] = {}
#: Every registered endpoint by name (read-only; add with :func:`register_endpoint`).
ENDPOINTS: Mapping[str, SearchEndpoint] = MappingProxyType(_REGISTRY)


def register_endpoint(endpoint: SearchEndpoint) -> SearchEndpoint:
    """Add ``endpoint`` to :data:`ENDPOINTS` (by its name) and return it.

    Registering the same record again is a no-op; another record under a taken name or path is an error.
    """
    if not isinstance(endpoint, SearchEndpoint):
        raise FeishuConfigError(f"register_endpoint takes a SearchEndpoint, not {type(endpoint).__name__}.")
    known = _REGISTRY.get(endpoint.name)
    if known == endpoint:
        return known
    if known is not None:
        raise FeishuConfigError(f"An endpoint named {endpoint.name!r} is registered already ({known.path}).")
    same_path = endpoint_at(endpoint.path)
    if same_path is not None:
        raise FeishuConfigError(f"{endpoint.path} is registered already, as {same_path.name!r}.")
    _REGISTRY[endpoint.name] = endpoint
    return endpoint


def unregister_endpoint(name: str) -> None:
    """Remove a registered endpoint (tests that register one of their own put things back with this)."""
    get_endpoint(name)
    del _REGISTRY[name]


def get_endpoint(dataset: str | SearchEndpoint) -> SearchEndpoint:
    """Return the record of a data set name (or the record itself); an unknown name is an error.

    :param dataset: a registered name such as ``"block"``, or a :class:`SearchEndpoint`.
    """
    if isinstance(dataset, SearchEndpoint):
        return dataset
    endpoint = _REGISTRY.get(dataset) if isinstance(dataset, str) else None
    if endpoint is None:
        raise FeishuConfigError(
            f"dataset={dataset!r} is unknown: use one of {sorted(_REGISTRY)}, or register a SearchEndpoint "
            "for it (airflow_provider_feishu_workplace.endpoints.register_endpoint)."
        )
    return endpoint


def endpoint_at(path: str) -> SearchEndpoint | None:
    """Return the registered endpoint served at ``path``, or ``None``."""
    return next((endpoint for endpoint in _REGISTRY.values() if endpoint.path == path), None)


for _endpoint in (WORKPLACE, CUSTOM_WORKPLACE, BLOCK):
    register_endpoint(_endpoint)
del _endpoint
