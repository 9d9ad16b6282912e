"""Operators that pull one run's days of Feishu Workplace access data into XCom or object storage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSkipException,
    Asset,
    BaseOperator,
)

from airflow_provider_feishu_workplace._arguments import checked_hook_params, checked_tenant_key, whole_number
from airflow_provider_feishu_workplace._compat import (
    TASK_PARTITION_KEYS,
    add_partitions,
    alias_event_extra,
    make_asset,
    run_partition_key,
)
from airflow_provider_feishu_workplace.days import (
    checked_timezone,
    context_days,
    day_list,
    first_unfinished_day,
    partition_keys,
    run_timezone,
    to_day,
    to_day_range,
)
from airflow_provider_feishu_workplace.endpoints import SearchEndpoint, get_endpoint
from airflow_provider_feishu_workplace.exceptions import (
    FeishuConfigError,
    FeishuError,
    FeishuNoDataYetError,
    raise_for_task,
)
from airflow_provider_feishu_workplace.items.checks import ItemLedger

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

EMPTY_DAY_POLICIES = ("fail", "skip", "allow")
#: In an ``output_path``, the placeholder for the day: one file per day, ``{date}`` replaced by ``YYYY-MM-DD``.
DATE_PLACEHOLDER = "{date}"
#: The default ``max_xcom_bytes``: 1 MiB of items as JSON. XCom rows live in the metadata database.
MAX_XCOM_BYTES = 1024 * 1024


def feishu_access_alias(dataset: str | SearchEndpoint) -> Any:
    """Return the AssetAlias (DatasetAlias on Airflow 2) of a data set, for pulls whose Asset is known only at run time.

    A pull whose ``feishu_conn_id`` is templated, or which reads one tenant of a store app (``tenant_key``),
    declares this alias at parse time and, when it runs, adds an event to the rendered connection's
    :func:`feishu_access_asset` through it, the tenant in the event's ``extra``. Mapped pulls
    (``.partial(...).expand(...)``) pass ``outlets=[feishu_access_alias(dataset)]`` to ``partial``: Airflow
    builds a mapped task's outlets from its ``partial`` arguments, not from the operator's ``__init__``.

    :param dataset: a registered data set's name or its
        :class:`~airflow_provider_feishu_workplace.endpoints.SearchEndpoint`.
    """
    from airflow_provider_feishu_workplace._compat import make_asset_alias

    return make_asset_alias(f"feishu_workplace.{get_endpoint(dataset).name}")


def feishu_access_asset(dataset: str | SearchEndpoint, feishu_conn_id: str = "feishu_default") -> Asset:
    """Return the Asset (Dataset on Airflow 2) the access operators update: one per data set and connection.

    Downstream DAGs schedule on it; each asset event's ``extra`` says which days were pulled and
    where they were written (``from_date``, ``to_date``, ``path``, ``items``, and ``days``: each day
    written and the path of the file holding it). On Airflow 3.2+ the events of a partitioned run (and of
    any run with ``emit_partitions=True``) are partitioned: one partition per day written, keyed
    ``YYYY-MM-DD`` (docs/partitions.md).

    :param dataset: a registered data set's name (``workplace``, ``custom_workplace``, ``block``) or its
        :class:`~airflow_provider_feishu_workplace.endpoints.SearchEndpoint`.
    :param feishu_conn_id: the Feishu connection the data comes from.
    """
    data_set = get_endpoint(dataset).name
    # A Dataset with the same URI on Airflow 2: DAGs scheduled on it run on both.
    return make_asset(
        name=f"feishu_workplace.{feishu_conn_id}.{data_set}",
        uri=f"feishu-workplace://{feishu_conn_id}/{data_set}",
        group="feishu_workplace",
    )


#: The operator's templated keyword arguments (its ``template_fields``).
_TEMPLATED_ARGUMENTS = ("feishu_conn_id", "tenant_key", "date", "from_date", "to_date", "output_path", "output_conn_id")
#: The operator's keyword arguments kept as the attribute of the same name (templated ones rendered by Airflow).
_KEPT_ARGUMENTS = (
    *_TEMPLATED_ARGUMENTS,
    "output_format",
    "timezone",
    "on_empty_day",
    "allow_partial_day",
    "max_xcom_records",
    "max_xcom_bytes",
    "page_size",
    "emit_partitions",
)


def _per_day(output_path: str | None) -> bool:
    """Whether ``output_path`` writes one file per day (it holds ``{date}``)."""
    return bool(output_path) and DATE_PLACEHOLDER in str(output_path)


class FeishuWorkplaceAccessOperator(BaseOperator):
    """Pull a run's days of workplace access data into XCom, or into a JSON Lines or Parquet file.

    Without ``date`` (or ``from_date``/``to_date``) the operator pulls the full calendar days (in
    ``timezone``) that the run's data interval covers: from the day of its start to the day before its
    end, or the single day before the end for an empty interval. So a daily DAG pulls yesterday. A
    partitioned run (Airflow 3.2+, for example of ``CronPartitionTimetable``) pulls the day its partition key
    names, ``YYYY-MM-DD``; a key that is not a day fails the task before any request.

    A range (``from_date``/``to_date``, or an interval of several days) is pulled in one pass through the
    paged endpoint. An ``output_path`` containing ``{date}`` writes one file per day (each atomically, all
    only after the whole range has arrived, so a failure leaves every earlier file as it was).

    :param feishu_conn_id: the Feishu connection (templated).
    :param tenant_key: a store app's tenant to read, instead of the connection's extra ``tenant_key``
        (templated, or mapped: one task per tenant). Its asset event says which tenant it holds.
    :param date: pull exactly this day, ``YYYY-MM-DD`` (templated).
    :param from_date: pull a range from this day, ``YYYY-MM-DD``, with ``to_date`` (templated).
    :param to_date: the range's last day, included (templated).
    :param output_path: an object storage URI (``file:///...``, ``s3://conn@bucket/key``) to write
        the items to; the return value is then the written path. With ``{date}`` in it, one file per
        day, and the return value maps each written day to its path. Without it the items themselves
        are returned (XCom). (Templated.)
    :param output_format: ``"jsonl"`` (JSON Lines) or ``"parquet"`` (needs the ``[parquet]`` extra);
        by default ``parquet`` for a path ending in ``.parquet``, else ``jsonl``.
    :param output_conn_id: the connection of the output filesystem, if not given in the URI.
    :param timezone: the time zone days are counted in; defaults to the DAG's.
    :param on_empty_day: what to do when a requested day has no item: ``fail`` (the data is not
        published yet; Airflow's retries try again later), ``skip`` or ``allow``. With one file per day it
        applies per day: ``skip`` writes no file for an empty day (and skips the task if every day is
        empty), ``allow`` writes an empty file.
    :param allow_partial_day: pull a day that has not ended yet (its data is incomplete).
    :param max_xcom_records: the most items returned through XCom; beyond it use ``output_path``.
    :param max_xcom_bytes: the most bytes of items (as UTF-8 JSON) returned through XCom, 1 MiB by default;
        beyond it the task fails at once (a rerun gets the same items): use ``output_path``.
    :param page_size: items per request; defaults to the endpoint's maximum.
    :param hook_params: extra keyword arguments for ``FeishuWorkplaceHook`` (timeouts, retries, pacing).
    :param dataset: pull this data set instead of the class's: a registered name or a
        :class:`~airflow_provider_feishu_workplace.endpoints.SearchEndpoint` (one without an id filter,
        or pulled unfiltered; a subclass that filters sets its class attribute ``dataset`` instead).
    :param emit_partitions: emit every day written as a partition (``YYYY-MM-DD``) of the outlet's asset
        event, so ``PartitionedAssetTimetable`` consumers get one run per day. By default only in
        partitioned runs (Airflow 3.2+); ``True`` (Airflow 3.3+) also in others, such as a manual range.
        Unpartitioned consumers (plain asset schedules) ignore partitioned events: leave it off for them.
        With ``tenant_key`` each key is the tenant's day, ``<tenant_key>|YYYY-MM-DD``.
    """

    #: The data set this operator pulls: a registered name or a SearchEndpoint record.
    dataset: str | SearchEndpoint = "workplace"
    template_fields: Sequence[str] = _TEMPLATED_ARGUMENTS
    ui_color = "#3370ff"

    # The keyword arguments kept as given, once checked (see the class docstring and _KEPT_ARGUMENTS).
    feishu_conn_id: str
    tenant_key: str | None
    date: str | dt.date | None
    from_date: str | dt.date | None
    to_date: str | dt.date | None
    output_path: str | None
    output_conn_id: str | None
    output_format: str | None
    timezone: str | None
    on_empty_day: str
    allow_partial_day: bool
    max_xcom_records: int
    max_xcom_bytes: int
    page_size: int | None
    emit_partitions: bool | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuse a subclass that names no data set: it would pull workplace data under another name."""
        super().__init_subclass__(**kwargs)
        owner = next(klass for klass in cls.__mro__ if "dataset" in vars(klass))
        if owner is FeishuWorkplaceAccessOperator:
            raise FeishuConfigError(
                f"{cls.__name__} names no data set: set its class attribute dataset to a registered name or a "
                "SearchEndpoint record (FeishuWorkplaceAccessOperator's 'workplace' is not inherited)."
            )
        if not isinstance(cls.dataset, str | SearchEndpoint):
            raise FeishuConfigError(
                f"{cls.__name__}.dataset={cls.dataset!r} must be a registered data set's name or a SearchEndpoint."
            )

    def __init__(
        self,
        *,
        feishu_conn_id: str = "feishu_default",
        tenant_key: str | None = None,
        date: str | dt.date | None = None,
        from_date: str | dt.date | None = None,
        to_date: str | dt.date | None = None,
        output_path: str | None = None,
        output_conn_id: str | None = None,
        output_format: str | None = None,
        timezone: str | None = None,
        on_empty_day: str = "fail",
        allow_partial_day: bool = False,
        max_xcom_records: int = 5000,
        max_xcom_bytes: int = MAX_XCOM_BYTES,
        page_size: int | None = None,
        hook_params: dict[str, Any] | None = None,
        dataset: str | SearchEndpoint | None = None,
        emit_partitions: bool | None = None,
        **kwargs: Any,
    ) -> None:
        arguments = locals()
        if emit_partitions and not TASK_PARTITION_KEYS:
            raise FeishuConfigError(
                "emit_partitions=True needs an Airflow whose tasks can name their events' partitions (3.3 and "
                "later): leave it unset here (a partitioned run's events carry its key from Airflow 3.2)."
            )
        if dataset is not None and type(self).item_filters is not FeishuWorkplaceAccessOperator.item_filters:
            raise FeishuConfigError(
                f"{type(self).__name__} pulls {get_endpoint(type(self).dataset).name!r}: pass dataset={dataset!r} "
                "to FeishuWorkplaceAccessOperator, or set the class attribute dataset of a subclass."
            )
        # The record, resolved at parse time: an unknown data set fails the DAG file, not the run.
        endpoint = get_endpoint(type(self).dataset if dataset is None else dataset)
        if "outlets" not in kwargs:
            # The Asset names the connection: known here unless templated. A templated one, or a tenant's pull,
            # updates it through the data set's alias once rendered (see feishu_access_alias).
            static = "{{" not in feishu_conn_id and tenant_key is None
            kwargs["outlets"] = [
                feishu_access_asset(endpoint, feishu_conn_id) if static else feishu_access_alias(endpoint)
            ]
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.dataset = endpoint.name
        if on_empty_day not in EMPTY_DAY_POLICIES:
            raise FeishuConfigError(f"on_empty_day={on_empty_day!r} is unknown: use one of {EMPTY_DAY_POLICIES}.")
        whole_number("max_xcom_records", max_xcom_records)
        whole_number("max_xcom_bytes", max_xcom_bytes)
        if date is not None and (from_date is not None or to_date is not None):
            raise FeishuConfigError(
                f"date={date!r} and from_date={from_date!r}/to_date={to_date!r} both given: pass date for one "
                "day, or from_date and to_date for a range."
            )
        if (from_date is None) != (to_date is None):
            raise FeishuConfigError(
                f"from_date={from_date!r} and to_date={to_date!r}: pass both (the range is inclusive), or neither."
            )
        if _per_day(output_path) and "{{" not in str(output_path):
            from airflow_provider_feishu_workplace.outputs.day_paths import check_day_template

            check_day_template(str(output_path), DATE_PLACEHOLDER)  # two days to one file fail the DAG file
        if output_format is not None:
            from airflow_provider_feishu_workplace.outputs.files import output_format_for

            # An unknown format, or one a literal path's suffix contradicts, fails the DAG file, not the run.
            output_format_for("" if "{{" in str(output_path or "") else output_path or "", output_format)
        if timezone is not None:
            checked_timezone(timezone)
        for name in _KEPT_ARGUMENTS:
            setattr(self, name, arguments[name])
        self.hook_params = hook_params or {}
        # (path, items, bytes) of each file this run wrote: the outputs its lineage reports.
        self._written_files: list[tuple[Any, int, int | None]] = []

    def item_filters(self) -> dict[str, str | None]:
        """Return the item id filter: the operator's attribute named after the data set's id field, if set."""
        id_field = self.endpoint.id_field
        return {"item_id": getattr(self, id_field, None) or None} if id_field else {}

    def execute(self, context: Context) -> list[dict[str, Any]] | str:
        """Pull the days, write or return them, and record the pull on the operator's Asset."""
        from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

        hook = None
        self._written_files = []
        try:
            first_day, last_day = self.resolve_days(context)
            hook_params = checked_hook_params(self.hook_params, FeishuWorkplaceHook)
            if self.tenant_key is not None:
                # Before any path is opened: the tenant key may name the output's folder.
                hook_params = {**hook_params, "tenant_key": checked_tenant_key(self.tenant_key)}
            output: Any = self._output_path() if self.output_path else None  # a path, or a dict of them per day
            if self._per_day:
                output = self._day_paths(first_day, last_day)
            probe = output[first_day.isoformat()] if self._per_day else output
            if probe is not None:
                from airflow_provider_feishu_workplace.outputs.files import check_writable

                self._checked_output_format(probe)
                check_writable(probe)  # before the pull: a store that cannot take the files fails it now
            hook = FeishuWorkplaceHook(self.feishu_conn_id, **hook_params)
            items = hook.iter_access_data(
                self.endpoint, first_day, last_day, page_size=self.page_size, **self.item_filters()
            )
            ledger = ItemLedger(first_day, last_day, self.endpoint)
            result, count = self._pull(items, ledger, output)
        except FeishuError as error:
            raise_for_task(error)
        finally:
            if hook is not None:
                hook.close()
        if isinstance(result, dict):
            where = str(self.output_path)
            days = result
        else:
            where = result if isinstance(result, str) else "XCom"
            days = _every_day(first_day, last_day, result) if isinstance(result, str) else {}
        self.log.info("Pulled %d %s items for %s..%s into %s", count, self.dataset, first_day, last_day, where)
        if ledger.repeated or ledger.out_of_range:
            self.log.warning(
                "Dropped %d repeated items and %d items for days outside %s..%s",
                ledger.repeated,
                ledger.out_of_range,
                first_day,
                last_day,
            )
        self._record_asset_event(context, first_day, last_day, count, where, days)
        return result

    def _pull(self, items: Iterable[dict[str, Any]], ledger: ItemLedger, output) -> tuple[Any, int]:
        """Write the checked items to ``output`` (or collect them); return the result and the item count."""
        if isinstance(output, dict):
            return self._pull_per_day(items, ledger, output)
        checked = self._checked(ledger.filter(items), ledger)
        if output is None:
            collected = self._collect_for_xcom(checked)
            return collected, len(collected)
        # The empty-day check runs before the commit, so a refused day never replaces a file.
        return str(output), self._write_file(output, checked)

    @property
    def _per_day(self) -> bool:
        return _per_day(self.output_path)

    def _day_paths(self, first_day: dt.date, last_day: dt.date) -> dict[str, Any]:
        """Return each day's output path, ``{date}`` replaced by the day."""
        from airflow_provider_feishu_workplace.outputs.day_paths import check_day_template

        text = str(self.output_path)
        check_day_template(text, DATE_PLACEHOLDER)  # rendered: a template's Jinja may have hidden the problem
        return {day: self._output_path(text.replace(DATE_PLACEHOLDER, day)) for day in day_list(first_day, last_day)}

    def _pull_per_day(
        self, items: Iterable[dict[str, Any]], ledger: ItemLedger, paths: dict[str, Any]
    ) -> tuple[dict[str, str], int]:
        """Pull the whole range, then write each day's file; return ``{day: path}`` of the files and the count.

        Nothing is written until the last page has arrived and every day passed the empty-day policy, so a
        failure mid-range leaves every existing file as it was.
        """
        from airflow_provider_feishu_workplace.outputs.day_spool import DaySpool

        with DaySpool() as spool:
            count = spool.add_all(ledger.filter(items))
            self._apply_empty_day_policy(ledger.days_without_items(), per_day=True)
            to_write = [day for day in paths if spool.count(day) or self.on_empty_day == "allow"]
            if not to_write:
                raise AirflowSkipException(f"Feishu returned no {self.dataset} items for any day: no file written.")
            self._write_files({paths[day]: spool.items(day) for day in to_write})
            written = {day: str(paths[day]) for day in to_write}
        self.log.info("Wrote %d files, one per day, from %s to %s", len(written), to_write[0], to_write[-1])
        return written, count

    def _checked_output_format(self, output) -> str:
        """Return the format of ``output``; fail before the pull if it is Parquet and pyarrow is missing."""
        from airflow_provider_feishu_workplace.outputs.files import output_format_for

        output_format = output_format_for(output, self.output_format)
        if output_format == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError as error:
                raise FeishuConfigError(
                    f"output_format='parquet' (for {output.name}) needs pyarrow: install "
                    "'airflow-provider-feishu-workplace[parquet]' on the workers, or write JSON Lines."
                ) from error
        return output_format

    def _write_file(self, output, items: Iterable[dict[str, Any]]) -> int:
        """Write ``items`` to ``output`` atomically in the operator's format; return the number written."""
        return self._write_files({output: items})

    def _write_files(self, contents: dict[Any, Iterable[dict[str, Any]]]) -> int:
        """Write each output's items, all or none: stage every file, then publish them together.

        Every written file is remembered for the lineage reported when the task completes. Return the
        number of items written.
        """
        from airflow_provider_feishu_workplace.outputs.commit import publish_together
        from airflow_provider_feishu_workplace.outputs.files import open_output

        files = []
        try:
            for output, items in contents.items():
                file = open_output(output, self._checked_output_format(output), endpoint=self.endpoint)
                files.append(file)
                for item in items:
                    file.write(item)
                file.stage()
            publish_together(files)
        finally:
            for file in files:
                file.abort()  # the staged files of a failed range; nothing once published
        self._written_files += [(file.target, file.count, file.size) for file in files]
        return sum(file.count for file in files)

    def resolve_days(self, context: Context) -> tuple[dt.date, dt.date]:
        """Return the first and last day this run pulls; refuse days that have not ended."""
        import pendulum

        tz = run_timezone(self.timezone, context)
        if self.date:
            first_day = last_day = to_day(self.date, name="date")
        elif self.from_date or self.to_date:
            first_day, last_day = to_day_range(self.from_date, self.to_date)
        else:
            first_day, last_day = context_days(context, tz)
        today = first_unfinished_day(pendulum.now("UTC"), tz)
        if last_day >= today and not self.allow_partial_day:
            raise FeishuConfigError(
                f"{last_day} has not ended yet in {tz.name} (today is {today} there), so its data would be "
                "incomplete: pull an earlier date, or pass allow_partial_day=True to accept a partial day."
            )
        return first_day, last_day

    def _output_path(self, text: str | None = None):
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        text = str(self.output_path) if text is None else text
        scheme, _, rest = text.partition("://")
        if (not rest and not text.startswith("/")) or (
            scheme.lower() in ("file", "local") and not rest.startswith("/")
        ):
            # A relative path would be resolved against whatever folder the worker happens to run in.
            raise FeishuConfigError(
                f"output_path={self.output_path!r} is relative: give an absolute URI such as "
                "'file:///data/lake/part.jsonl' (three slashes) or 's3://conn_id@bucket/key'."
            )
        try:
            # Only when given: on Airflow 2, conn_id=None would override the one in an s3://conn_id@... URI.
            options = {"conn_id": self.output_conn_id} if self.output_conn_id else {}
            path = ObjectStoragePath(text, **options)
            path.fs  # noqa: B018 - resolve the filesystem now, so an unknown scheme fails before any request
        except (ValueError, ImportError) as error:
            raise FeishuConfigError(
                f"output_path={self.output_path!r} cannot be opened ({error}): use file:///..., or a scheme whose "
                "filesystem is installed (s3:// needs apache-airflow-providers-amazon[s3fs])."
            ) from error
        if not path.name or text.endswith("/"):
            raise FeishuConfigError(f"output_path={self.output_path!r} names a folder: give a file name.")
        return path

    def _checked(self, items: Iterable[dict[str, Any]], ledger: ItemLedger) -> Iterator[dict[str, Any]]:
        yield from items
        self._apply_empty_day_policy(ledger.days_without_items(), per_day=False)

    def _apply_empty_day_policy(self, missing: list[str], *, per_day: bool) -> None:
        """Apply ``on_empty_day`` to the requested days that got no item: fail or skip the task, or log it.

        Runs after the last page and before any file is committed, so a refused day never replaces a file.

        :param missing: the days without items, ``YYYY-MM-DD``.
        :param per_day: whether each day has a file of its own (``skip`` then skips only the empty days).
        """
        if not missing:
            return
        message = (
            f"Feishu returned no {self.dataset} items for {_listed(missing)}: the day's data is published "
            "after the day ends (the hour is not documented), so it may not be available yet."
        )
        if self.on_empty_day == "fail":
            raise FeishuNoDataYetError(
                f"{message} Nothing was written; Airflow's retries will try again. Set on_empty_day='skip' or "
                "'allow' to accept empty days."
            )
        if self.on_empty_day == "skip" and not per_day:
            raise AirflowSkipException(message)
        if self.on_empty_day == "skip":
            outcome = "no file written for them"
        else:
            outcome = "empty files written" if per_day else "continuing"
        self.log.warning(
            "Feishu returned no %s items for %s: %s (on_empty_day=%r)",
            self.dataset,
            _listed(missing),
            outcome,
            self.on_empty_day,
        )

    def _collect_for_xcom(self, items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Collect the items for XCom, within ``max_xcom_records`` items and ``max_xcom_bytes`` bytes of JSON."""
        import json

        collected: list[dict[str, Any]] = []
        size = 2  # the list's brackets
        for item in items:
            if len(collected) == self.max_xcom_records:
                raise AirflowFailException(
                    f"More than max_xcom_records={self.max_xcom_records} items: XCom is no place for this much "
                    "data. Set output_path to write them to object storage instead."
                )
            # The items passed the checks, so they are JSON that UTF-8 can hold; ", " between items.
            size += len(json.dumps(item, ensure_ascii=False).encode("utf-8")) + (2 if collected else 0)
            if size > self.max_xcom_bytes:
                raise FeishuConfigError(
                    f"The {self.dataset} items are more than max_xcom_bytes={self.max_xcom_bytes} bytes as JSON "
                    f"({size} bytes after {len(collected) + 1} items, and the pull is not done): XCom is no place "
                    "for this much data, and a rerun gets the same items. Set output_path to write them to "
                    "object storage instead (or raise max_xcom_bytes)."
                )
            collected.append(item)
        return collected

    def get_openlineage_facets_on_start(self) -> Any:
        """Report the Feishu data set this task reads (and, once templates are rendered, the file it writes).

        Called by the OpenLineage provider's listener only; it and this provider's lineage module are
        imported here, so nothing changes without the OpenLineage provider.
        """
        from airflow_provider_feishu_workplace.outputs.lineage import lineage

        outputs = []
        # One file per day ({date}) is known only once the run's days are: the complete event names them.
        if self.output_path and "{{" not in str(self.output_path) and not self._per_day:
            outputs.append((self._output_path(), None, None))
        return lineage(self.feishu_conn_id, self.endpoint, outputs)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Report the Feishu data set read and every file written, with its item count (XCom mode: input only)."""
        from airflow_provider_feishu_workplace.outputs.lineage import lineage

        return lineage(self.feishu_conn_id, self.endpoint, self._written_files)

    def _record_asset_event(
        self, context: Context, first_day: dt.date, last_day: dt.date, count: int, where: str, days: dict[str, str]
    ):
        events = context.get("outlet_events")
        if events is None:
            return
        extra: dict[str, Any] = {
            "dataset": self.endpoint.name,
            "from_date": first_day.isoformat(),
            "to_date": last_day.isoformat(),
            "items": count,
            "path": where if where != "XCom" else None,
            # Each day written and the file holding it: loaders read these, whatever the layout.
            "days": dict(days),
        }
        if self.tenant_key is not None:
            extra["tenant_key"] = self.tenant_key  # one event per tenant's pull, on the app's Asset
        run_key = run_partition_key(context)
        emit = run_key is not None if self.emit_partitions is None else self.emit_partitions
        keys = partition_keys(_written_days(first_day, last_day, days), tenant_key=self.tenant_key) if emit else []
        alias = feishu_access_alias(self.endpoint)
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                if keys and not add_partitions(events[outlet], keys) and keys != [run_key]:
                    self.log.warning(
                        "This Airflow cannot name an asset event's partitions (3.3 can): the event for %s..%s "
                        "carries the run's partition key %r only",
                        keys[0],
                        keys[-1],
                        run_key,
                    )
                events[outlet].extra = extra
            elif getattr(outlet, "name", None) == alias.name and type(outlet) is type(alias):
                # The rendered connection's Asset, through the alias declared at parse time.
                asset = feishu_access_asset(self.endpoint, self.feishu_conn_id)
                events[alias].add(asset, extra=alias_event_extra(extra))


class FeishuCustomWorkplaceAccessOperator(FeishuWorkplaceAccessOperator):
    """Pull a run's days of custom workplace access data; see :class:`FeishuWorkplaceAccessOperator`.

    :param custom_workplace_id: only this custom workplace's items (templated).
    """

    dataset: str | SearchEndpoint = "custom_workplace"
    template_fields: Sequence[str] = (*FeishuWorkplaceAccessOperator.template_fields, "custom_workplace_id")

    def __init__(self, *, custom_workplace_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.custom_workplace_id = custom_workplace_id


class FeishuWorkplaceBlockAccessOperator(FeishuWorkplaceAccessOperator):
    """Pull a run's days of workplace block access data; see :class:`FeishuWorkplaceAccessOperator`.

    :param block_id: only this block's items (templated).
    """

    dataset: str | SearchEndpoint = "block"
    template_fields: Sequence[str] = (*FeishuWorkplaceAccessOperator.template_fields, "block_id")

    def __init__(self, *, block_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.block_id = block_id


def __getattr__(name: str) -> Any:
    # run_days lived here until 0.2.0; DAGs written for 0.1.0 import it from this module.
    if name == "run_days":
        import warnings

        from airflow_provider_feishu_workplace.days import run_days

        warnings.warn(
            "airflow_provider_feishu_workplace.operators.feishu_workplace.run_days moved: import it from "
            "airflow_provider_feishu_workplace.days.",
            DeprecationWarning,
            stacklevel=2,
        )
        return run_days
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _every_day(first_day: dt.date, last_day: dt.date, path: str) -> dict[str, str]:
    """The asset event's ``days`` of a single file: every day of the range, mapped to that file."""
    return dict.fromkeys(day_list(first_day, last_day), path)


def _written_days(first_day: dt.date, last_day: dt.date, days: dict[str, str]) -> list[str]:
    """The days an asset event names: each day written (a ``{date}`` layout), else the whole range."""
    return sorted(days) or day_list(first_day, last_day)


def _listed(days: list[str], shown: int = 10) -> str:
    """``days`` joined for a message; a long list is cut, with the number left out."""
    if len(days) <= shown:
        return ", ".join(days)
    return f"{', '.join(days[:shown])} and {len(days) - shown} more days"
