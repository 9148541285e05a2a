"""What every app shares and no app owns: text checks, API plumbing, database helpers.

Imports no app (checked by import-linter); apps import it.
"""
