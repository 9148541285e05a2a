"""Index teams' updated_at: the newest one is read on every cached score page view.

Only the index is created: Django's AlterField would rebuild the table on SQLite.
"""

from django.db import migrations, models

INDEX = "surveys_team_updated_at_253443e7"


class Migration(migrations.Migration):
    dependencies = [("surveys", "0008_drop_indexes_covered_by_composites")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="team",
                    name="updated_at",
                    field=models.DateTimeField(auto_now=True, db_index=True),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'CREATE INDEX "{INDEX}" ON "surveys_team" ("updated_at")',
                    reverse_sql=f'DROP INDEX "{INDEX}"',
                )
            ],
        )
    ]
