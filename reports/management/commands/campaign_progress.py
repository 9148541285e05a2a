"""manage.py campaign_progress [--campaign ID]: recompute campaigns' progress now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.models import Campaign
from campaigns.selectors import active_campaigns
from reports.campaign_progress import campaign_progress_refresh


class Command(BaseCommand):
    help = (
        "Recompute the progress of every active campaign (or of one, --campaign, archived "
        "or not) from the stored scores, in this process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", type=int, help="Only this campaign (its id).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["campaign"] is not None:
            campaigns = list(Campaign.objects.filter(pk=options["campaign"]))
            if not campaigns:
                raise CommandError(f"No campaign with id {options['campaign']}.")
        else:
            campaigns = list(active_campaigns().order_by("pk"))
        for campaign in campaigns:
            done = campaign_progress_refresh(campaign)
            counts = done.counts
            self.stdout.write(
                f"Campaign {campaign.pk} ({campaign.title}): {counts.meeting} meeting, "
                f"{counts.not_meeting} not meeting, {counts.not_assessed} not yet assessed "
                f"of {counts.total}; {done.rows_written} team row(s) and "
                f"{done.snapshots_written} round snapshot(s) written in {done.milliseconds} ms."
            )
        self.stdout.write(self.style.SUCCESS(f"{len(campaigns)} campaign(s) recomputed."))
