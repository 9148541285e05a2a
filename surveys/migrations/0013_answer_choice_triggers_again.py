"""Re-create on SQLite the answer_choice_of_question triggers of migration 0002.

Migrations 0011 (a check constraint on answers) and 0012 (a database default) make SQLite
rebuild the answers table, which drops its triggers: without them SQLite accepted a score
that is not a choice of the question. PostgreSQL keeps its composite foreign key through
both, so nothing runs there.
"""

from __future__ import annotations

from importlib import import_module

from django.db import migrations

choice_check = import_module("surveys.migrations.0002_answer_choice_belongs_to_question")


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for event in ("INSERT", "UPDATE"):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS answer_choice_of_question_{event}")
        schema_editor.execute(choice_check.SQLITE_CHECK.format(event=event))


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0012_answer_dont_know_db_default"),
        ("maturity", "0002_question_scope_refs_evidence"),
    ]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
