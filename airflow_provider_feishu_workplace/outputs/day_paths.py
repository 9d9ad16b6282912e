"""Check an ``output_path`` with ``{date}`` before any file is written: each day must get a file of its own."""

from __future__ import annotations

import posixpath


def check_day_template(template: str, placeholder: str = "{date}") -> None:
    """Raise FeishuConfigError unless every day of ``template`` names a different file.

    The placeholder must survive normalising the location (the bucket or host and the path: ``..`` and ``.``
    segments resolved, doubled slashes merged; a connection id before ``@`` does not count), else two days
    would write one file: ``file:///lake/{date}/../same.jsonl`` is ``/lake/same.jsonl`` on every day.

    :param template: the output path with the placeholder, rendered or literal.
    :param placeholder: the text that is replaced by the day.
    """
    from airflow_provider_feishu_workplace.exceptions import FeishuConfigError

    scheme, separator, rest = template.partition("://")
    if not separator:
        rest = template
    authority, slash, path = rest.partition("/")
    authority = authority.rpartition("@")[2]  # s3://conn_id@bucket/...: the connection is not part of the place
    location = authority + posixpath.normpath("/" + path) if slash else authority
    if placeholder not in location:
        raise FeishuConfigError(
            f"output_path={template!r} writes every day to one file ({location!r} once normalised): {placeholder} "
            "must stay in the bucket, folder or file name, as in 'file:///lake/{date}/part.jsonl' or "
            "'s3://conn@bucket/block/dt={date}/part.parquet'."
        )
