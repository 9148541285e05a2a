"""Drop two single-column indexes that composite indexes already cover.

answer_unique (response_id, question_id, ...) serves every lookup by response_id, and
response_survey_team_status (survey_id, team_id, status) every lookup by survey_id. Each
submission inserted 50 answers and wrote a response into these indexes too.

Only the indexes go: Django's own AlterField would also drop and re-add the foreign keys
(checking every answer again on PostgreSQL) and, on SQLite, rebuild the tables, losing
the answer_choice_of_question triggers of migration 0002.
"""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models

INDEXES = [
    ("surveys_answer_response_id_5416c873", "surveys_answer", "response_id"),
    ("surveys_response_survey_id_907701cf", "surveys_response", "survey_id"),
]


class Migration(migrations.Migration):
    dependencies = [("surveys", "0007_response_dimension_scores")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="answer",
                    name="response",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="answers",
                        to="surveys.response",
                    ),
                ),
                migrations.AlterField(
                    model_name="response",
                    name="survey",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="responses",
                        to="surveys.survey",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")',
                )
                for name, table, column in INDEXES
            ],
        )
    ]
