"""Signals of the maturity app for the layers above it (which maturity may not import).

``framework_checks_updated(sender=Framework, framework=...)`` is sent, after the commit,
when load_framework updated a version's evidence checks or evidence policy in place: the
evidence app then re-evaluates and has the open rounds of that version re-scored, so their
verdicts follow the new checks.
"""

from __future__ import annotations

from django.dispatch import Signal

framework_checks_updated = Signal()
