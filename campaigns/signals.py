"""Signals of the campaigns app for the layers above it (which campaigns may not import).

``campaign_changed(sender=Campaign, campaign_id=...)`` is sent after the commit that
created a campaign or changed what its progress depends on (its parent team or its goal),
or made an archived one active again: the reports app, which computes progress from the
scores, then has it computed (reports.tasks.refresh_campaign_progress).
"""

from __future__ import annotations

from django.dispatch import Signal

campaign_changed = Signal()
