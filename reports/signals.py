"""Signals of the reports app.

``scores_written`` is sent (``survey``, ``team_ids``) by every scoring run that wrote
snapshots (reports.services.aggregate), once its snapshots are stored: reports.tasks
queues what follows a run (figures, action verdicts, campaign progress), coalesced per
survey, so that a burst of submissions scored one team at a time pays for it once.
"""

from __future__ import annotations

from django.dispatch import Signal

scores_written = Signal()
