"""Database helpers shared by the apps."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any, TypeVar

from django.db import connection, models
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from common import revisions

M = TypeVar("M", bound=models.Model)


def insert_rows(
    model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert plain rows into ``model``'s table in one statement, without model instances.

    ``columns`` are column names (``response_id``, not ``response``); values are Python
    values (a JSON field's dict or list, not its text). PostgreSQL gets a COPY (psycopg
    adapts and escapes each value; None is NULL, as the ORM stores it in a JSON field);
    other databases one executemany of values prepared by the model's fields. Constraints
    and foreign keys are checked as for any insert.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    fields = [
        next(f for f in model._meta.concrete_fields if f.column == column) for column in columns
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from psycopg.types.json import Jsonb

            json_columns = [
                index for index, field in enumerate(fields) if isinstance(field, models.JSONField)
            ]
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    if json_columns:
                        row = list(row)
                        for index in json_columns:
                            if row[index] is not None:
                                row[index] = Jsonb(row[index])
                    copy.write_row(row)
            # A COPY passes no execute wrapper: tell the data revision itself.
            revisions.note_write(connection)
            return
        prepared = [
            [
                field.get_db_prep_save(value, connection)
                for field, value in zip(fields, row, strict=True)
            ]
            for row in rows
        ]
        placeholders = ", ".join(["%s"] * len(columns))
        cursor.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({placeholders})",  # noqa: S608
            prepared,
        )


def fits_primary_key(model: type[models.Model], value: int) -> bool:
    """Tell whether ``value`` fits ``model``'s primary key column.

    A number that does not is no row's key; SQLite refuses it as a parameter (a 500, not a
    404) and PostgreSQL compares it needlessly.
    """
    low, high = connection.ops.integer_field_range(model._meta.pk.get_internal_type())
    return low <= value <= high


def columns_of(model: type[models.Model], alias: str) -> str:
    """Return the SQL select list of ``model``'s concrete columns under table ``alias``, in
    the order instance_from_row reads them."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields)


def instance_from_row(model: type[M], values: Sequence[Any]) -> M:
    """Build a ``model`` instance from the values of its concrete columns (columns_of order).

    For the few hot reads where building a queryset costs more CPU than running it
    (measured in benchmarks/: the token, the submission's survey and team); the ORM reads
    everything else. Values are turned into Python values with public field APIs, so the
    same code reads PostgreSQL's typed values and SQLite's text: datetimes come back aware
    (UTC), booleans as bool, JSON decoded.
    """
    fields = model._meta.concrete_fields
    converted = [_python_value(field, value) for field, value in zip(fields, values, strict=True)]
    return model.from_db(connection.alias, [field.attname for field in fields], converted)


def _python_value(field: models.Field[Any, Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(field, models.DateTimeField):
        if isinstance(value, str):
            value = parse_datetime(value)
        if value is not None and timezone.is_naive(value):
            value = timezone.make_aware(value, UTC)  # SQLite keeps UTC without an offset
        return value
    if isinstance(field, models.JSONField):
        return json.loads(value) if isinstance(value, str | bytes) else value
    return field.to_python(value)
