"""OpenLineage datasets of the access operators and the sensor: the Feishu data set in, the written files out.

Only the operators' and the sensor's ``get_openlineage_facets_on_*`` methods import this module, and only
the OpenLineage provider's listener calls them: without ``apache-airflow-providers-openlineage`` nothing
here is ever imported.

- The input is the Feishu data set: namespace ``feishu://<host>/<app id>`` (``lark://`` for
  ``open.larksuite.com``; a store app adds ``/<tenant key>``, whose data it reads), name the data set
  (``workplace``, ``custom_workplace``, ``block``), and a schema facet with the item fields.
- Each output is a written file, in the namespace and name Airflow's object storage gives it
  (``ObjectStoragePath.namespace`` and ``.key``: ``file`` + the path, ``s3://bucket`` + the key), with the
  same schema facet and an output statistics facet holding its item count and size in bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.openlineage.facet import (
    Dataset,
    OutputDataset,
    OutputStatisticsOutputDatasetFacet,
    SchemaDatasetFacet,
    SchemaDatasetFacetFields,
)
from airflow.providers.openlineage.extractors import OperatorLineage

from airflow_provider_feishu_workplace.endpoints import SearchEndpoint, get_endpoint

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

LARK_HOST_SUFFIX = "larksuite.com"


def feishu_namespace(feishu_conn_id: str) -> str:
    """Return the OpenLineage namespace of a Feishu connection's data: ``feishu://<host>/<app id>``.

    The connection is read (never its secrets): the host says which platform, the app id whose data.
    """
    from urllib.parse import urlsplit

    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

    settings = FeishuWorkplaceHook(feishu_conn_id).settings
    origin = urlsplit(settings.base_url)
    host = (origin.hostname or "").lower()
    scheme = "lark" if host == LARK_HOST_SUFFIX or host.endswith("." + LARK_HOST_SUFFIX) else "feishu"
    namespace = f"{scheme}://{origin.netloc.lower()}/{settings.app_id}"
    if settings.tenant_key:  # a store app reads the data of one tenant among many
        namespace += f"/{settings.tenant_key}"
    return namespace


def schema_facet(endpoint: SearchEndpoint | str) -> SchemaDatasetFacet:
    """Return the schema facet of a data set's items, from its record (the Parquet schema's shape)."""
    endpoint = get_endpoint(endpoint)
    fields = [SchemaDatasetFacetFields(name="date", type="date", description="the day, YYYY-MM-DD")]
    if endpoint.id_field:
        fields.append(SchemaDatasetFacetFields(name=endpoint.id_field, type="string", description="the item's id"))
    counts = [
        SchemaDatasetFacetFields(name="pv", type="int64", description="visits"),
        SchemaDatasetFacetFields(name="uv", type="int64", description="distinct visitors"),
    ]
    fields += [SchemaDatasetFacetFields(name=name, type="struct", fields=counts) for name in endpoint.counts_fields]
    names = [
        SchemaDatasetFacetFields(name="language", type="string"),
        SchemaDatasetFacetFields(name="name", type="string"),
    ]
    fields += [
        SchemaDatasetFacetFields(
            name=name,
            type="array",
            fields=[SchemaDatasetFacetFields(name="_element", type="struct", fields=names)],
        )
        for name in endpoint.name_fields
    ]
    return SchemaDatasetFacet(fields=fields)


def input_dataset(feishu_conn_id: str, endpoint: SearchEndpoint | str) -> Dataset:
    """Return the Feishu data set a pull or a sensor reads, as an OpenLineage dataset."""
    endpoint = get_endpoint(endpoint)
    return Dataset(
        namespace=feishu_namespace(feishu_conn_id),
        name=endpoint.name,
        facets={"schema": schema_facet(endpoint)},
    )


def file_dataset(
    path: ObjectStoragePath, endpoint: SearchEndpoint | str, items: int | None = None, size: int | None = None
) -> Dataset:
    """Return a lake file as an OpenLineage output dataset, with its item count and size (bytes) when known."""
    facets: dict[str, Any] = {"schema": schema_facet(endpoint)}
    output_facets: dict[str, Any] = {}
    if items is not None:
        output_facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(rowCount=items, size=size)
    namespace, name = file_dataset_name(path)
    return OutputDataset(namespace=namespace, name=name, facets=facets, outputFacets=output_facets)


def file_dataset_name(path: ObjectStoragePath) -> tuple[str, str]:
    """Return the OpenLineage namespace and name of a file: Airflow object storage's, without a conn id.

    ``s3://aws_lake@bucket/key`` is ``("s3://bucket", "key")`` (Airflow 2 keeps the conn id in the
    namespace; it names a connection, not the data); a local file is ``("file", "/abs/path")``, as
    Airflow's own ``file://`` assets are translated.
    """
    protocol = path.protocol or "file"
    if protocol in ("file", "local"):
        return "file", "/" + path.key.lstrip("/")
    namespace = getattr(path, "namespace", None) or (f"{protocol}://{path.bucket}" if path.bucket else protocol)
    scheme, separator, authority = namespace.partition("://")
    if separator and "@" in authority:
        namespace = f"{scheme}://{authority.rpartition('@')[2]}"
    return namespace, path.key.lstrip("/")


def lineage(
    feishu_conn_id: str,
    endpoint: SearchEndpoint | str,
    outputs: Iterable[tuple[ObjectStoragePath, int | None, int | None]] = (),
) -> OperatorLineage:
    """Return the OperatorLineage of a pull: the Feishu data set in, ``(path, items, bytes)`` files out."""
    return OperatorLineage(
        inputs=[input_dataset(feishu_conn_id, endpoint)],
        outputs=[file_dataset(path, endpoint, items, size) for path, items, size in outputs],
    )
