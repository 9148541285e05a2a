"""Database helpers shared by the apps."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection, models


def insert_rows(
    model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence]
) -> None:
    """Insert plain rows into ``model``'s table in one statement, without model instances.

    ``columns`` are column names (``response_id``, not ``response``). PostgreSQL gets a
    COPY (psycopg adapts and escapes each value; None is NULL); other databases one
    executemany of values prepared by the model's fields. Constraints and foreign keys are
    checked as for any insert.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        fields = [
            next(f for f in model._meta.concrete_fields if f.column == column) for column in columns
        ]
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
