"""The ``feishu-workplace://`` asset URI: what the access operators' outlets are, checked and normalised.

The form is ``feishu-workplace://<conn_id>/<dataset>``: one asset per Feishu connection and data set, as
:func:`~airflow_provider_feishu_workplace.operators.feishu_workplace.feishu_access_asset` builds it.
Airflow calls :func:`sanitize_uri` (named in provider info's ``asset-uris``, and ``dataset-uris`` for
Airflow 2) for every Asset (Dataset) with this scheme, after its own normalisation (lower-case scheme, no
trailing slash, no user info, no fragment), so a DAG that spells the URI differently still schedules on
the operators' outlets, and a URI that cannot name one is refused when the DAG is parsed.

Airflow imports this module during provider discovery: it imports only the standard library.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from urllib.parse import SplitResult

SCHEME = "feishu-workplace"
# The rule for data set names (SearchEndpoint.name): tests check every registered endpoint passes it.
_DATASET = re.compile(r"[a-z][a-z0-9_]{0,63}")
_FORM = f"{SCHEME}://<conn_id>/<dataset>, for example {SCHEME}://feishu_default/block"


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Return the normal form of a ``feishu-workplace://<conn_id>/<dataset>`` URI, or raise ``ValueError``.

    The data set name is lower-cased (every data set name is lower case); the connection id is kept as
    it is (connection ids are case-sensitive). A URI without a connection id or data set, with more path
    segments or with a query is refused with a message naming the expected form.

    :param uri: the URI as Airflow split it (``urllib.parse.urlsplit``), already normalised by Airflow.
    """
    # Airflow has dropped any user info by now, so the URI shown holds no password.
    shown = f"{uri.scheme}://{uri.netloc}{uri.path}" + (f"?{uri.query}" if uri.query else "")
    if not uri.netloc:
        raise ValueError(f"Asset URI {shown!r} names no Feishu connection: use {_FORM}.")
    if uri.query:
        raise ValueError(f"Asset URI {shown!r} has a query, which {SCHEME} URIs do not take: use {_FORM}.")
    dataset = uri.path.removeprefix("/").lower()
    if not _DATASET.fullmatch(dataset):
        raise ValueError(
            f"Asset URI {shown!r} names no data set (one path segment of lower-case letters, digits and _, "
            f"such as workplace, custom_workplace or block): use {_FORM}."
        )
    return uri._replace(path=f"/{dataset}")
