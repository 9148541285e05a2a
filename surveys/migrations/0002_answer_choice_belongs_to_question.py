"""Enforce in the database that an answer's score is one of its question's choices.

Django has no composite foreign keys, so this adds one by hand on PostgreSQL and the
equivalent triggers on SQLite (which cannot add constraints to an existing table).
"""

from __future__ import annotations

from django.db import migrations

POSTGRES_FORWARD = """
ALTER TABLE surveys_answer
  ADD CONSTRAINT answer_choice_of_question
  FOREIGN KEY (question_id, score) REFERENCES maturity_choice (question_id, score);
"""
POSTGRES_BACKWARD = "ALTER TABLE surveys_answer DROP CONSTRAINT answer_choice_of_question;"

SQLITE_CHECK = """
CREATE TRIGGER answer_choice_of_question_{event}
BEFORE {event} ON surveys_answer
FOR EACH ROW WHEN NEW.score IS NOT NULL AND NOT EXISTS (
  SELECT 1 FROM maturity_choice c WHERE c.question_id = NEW.question_id AND c.score = NEW.score
)
BEGIN
  SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: answer_choice_of_question');
END;
"""


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD)
    elif vendor == "sqlite":
        for event in ("INSERT", "UPDATE"):
            schema_editor.execute(SQLITE_CHECK.format(event=event))


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD)
    elif vendor == "sqlite":
        for event in ("INSERT", "UPDATE"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS answer_choice_of_question_{event}")


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0001_initial"),
        ("maturity", "0001_initial"),
    ]

    operations = [migrations.RunPython(forward, backward)]
