"""Signals of the actions app, for the layers above it.

``action_done`` is sent (``action_id``) once the transaction that marked an action done
commits: the reports app checks it against the rounds scored since (a round scored
before the action was done would otherwise never look at it).
"""

from __future__ import annotations

from django.dispatch import Signal

action_done = Signal()
