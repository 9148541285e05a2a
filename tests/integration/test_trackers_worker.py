"""The tracker poll with a real worker: beat's task, sent through Redis, reads the fake
tracker over HTTP and closes the action in PostgreSQL."""

from __future__ import annotations

import pytest

from actions.models import Action
from tests.integration.conftest import wait_for
from tests.trackers import conftest as trackers
from trackers import services
from trackers.tasks import poll_trackers

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# The fake trackers and an action, as the trackers' own tests have them.
fake = trackers.fake
connect = trackers.connect
action = trackers.action


def test_the_worker_polls_an_issue_closed_as_not_planned_into_wont_do(
    real_celery, fake, connect, action, manager
):
    real_celery()
    connect("github")
    link = services.action_push(action, by=manager).link
    fake.github_set_state("acme/ml-platform", 1, "closed", "not_planned")
    poll_trackers.delay()
    done = wait_for(
        lambda: Action.objects.filter(pk=action.pk, status="wont_do").first(),
        message="the worker to sync the issue's state",
    )
    assert done.wont_do_reason == "Closed as not planned in GitHub"
    link.refresh_from_db()
    assert link.synced_status == "wont_do" and link.external_state == "closed (not planned)"
    # Both tasks ran in the worker: the fan-out and the connection's poll.
    assert len(fake.requests_to("/github/repos/acme/ml-platform/issues/1")) == 1
