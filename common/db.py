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


def fits_primary_key(model: type[models.Model], value: int) -> bool:
    """Tell whether ``value`` fits ``model``'s primary key column.

    A number that does not is no row's key; SQLite refuses it as a parameter (a 500, not a
    404) and PostgreSQL compares it needlessly.
    """
    low, high = connection.ops.integer_field_range(model._meta.pk.get_internal_type())
    return low <= value <= high


class JoinedRow:
    """Model instances from one row of a hand-written join, as the ORM would build them.

    For hot paths where building a queryset costs more than running it. ``select_list``
    gives each model's concrete columns in order, under the SQL alias paired with it;
    ``read`` turns a fetched row into one instance per model (values converted by the
    fields, as for any ORM read) plus the row's remaining values.
    """

    def __init__(self, *aliased: tuple[type[models.Model], str]) -> None:
        self.models = [model for model, _ in aliased]
        self.fields = [list(model._meta.concrete_fields) for model in self.models]
        self.columns = [
            field.get_col(field.model._meta.db_table) for fields in self.fields for field in fields
        ]
        self._by_vendor: dict[str, list] = {}
        quote = connection.ops.quote_name
        self.select_list = ", ".join(
            f"{alias}.{quote(field.column)}"
            for (_, alias), fields in zip(aliased, self.fields, strict=True)
            for field in fields
        )

    def read(self, row: Sequence) -> tuple[list[models.Model], list]:
        """Return the row's model instances, in the given order, and its other values."""
        values = list(row)
        for position, converters, column in self._converters():
            for converter in converters:
                values[position] = converter(values[position], column, connection)
        instances, start = [], 0
        for model, fields in zip(self.models, self.fields, strict=True):
            end = start + len(fields)
            names = [field.attname for field in fields]
            instances.append(model.from_db(connection.alias, names, values[start:end]))
            start = end
        return instances, values[start:]

    def _converters(self) -> list[tuple[int, list, models.Expression]]:
        """The fields' and the backend's converters by column position, as the ORM's."""
        found = self._by_vendor.get(connection.vendor)
        if found is None:
            from django.db.models.sql import Query

            compiler = connection.ops.compiler("SQLCompiler")(Query(None), connection, None)
            found = self._by_vendor[connection.vendor] = [
                (position, converters, column)
                for position, (converters, column) in compiler.get_converters(self.columns).items()
            ]
        return found
