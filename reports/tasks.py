"""Celery tasks: thin wrappers over reports.services that own the retry policy.

Submissions enqueue ``aggregate_team`` after commit. A short "pending" marker in Redis
coalesces bursts: while a run for a team is queued and not yet started, further submissions
for that team enqueue nothing (the queued run will read them). ``reconcile_scores`` (beat,
every minute) re-enqueues any team whose newest submission is newer than its snapshot, so a
lost message or a broker outage only delays scores. ``recover_stuck_runs`` (beat, every
minute) fails the runs whose worker or message was lost, so none stays running or queued
for ever, and enqueues their work again.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any, Literal, TypedDict

import redis
from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from campaigns import selectors as campaign_selectors
from campaigns import services as campaign_services
from campaigns.models import Campaign
from common.redis import redis_client
from reports import action_verification, campaign_progress, exports, health, services
from reports.models import AggregationRun, ExportJob
from surveys.models import Survey

logger = logging.getLogger(__name__)

RETRYABLE = (OperationalError, InterfaceError, BrokerError, redis.RedisError, ConnectionError)
# Seconds a queued run waits before reading, so that a burst of submissions shares it.
COALESCE_SECONDS = 1.0
PENDING_TTL_SECONDS = 60


def _redis() -> redis.Redis | None:
    url = settings.CELERY_BROKER_URL
    if settings.CELERY_TASK_ALWAYS_EAGER or not url.startswith(("redis://", "rediss://")):
        return None
    return redis_client(url)


def _pending_key(survey_id: int, team_id: int) -> str:
    return f"maturity:aggregate-pending:{survey_id}:{team_id}"


def enqueue_team_aggregation(
    survey_id: int, team_id: int, trigger: str = "submission"
) -> AggregationRun | None:
    """Queue a scoring run for one team, unless one is already queued; never raises.

    Returns the queued run, or None when an already queued run will cover this change or
    the broker is unreachable (the run is then recorded as failed and reconcile retries).
    """
    client = _redis()
    key = _pending_key(survey_id, team_id)
    try:
        if client is not None and not client.set(key, "1", nx=True, ex=PENDING_TTL_SECONDS):
            return None
    except redis.RedisError as error:
        logger.warning("aggregation not queued for %s/%s: %s", survey_id, team_id, error)
        return None
    run = AggregationRun.objects.create(survey_id=survey_id, team_id=team_id, trigger=trigger)
    try:
        # celery-types declares countdown a float; celery takes None for "no countdown".
        aggregate_team.apply_async(
            (survey_id, team_id, run.pk),
            countdown=None if settings.CELERY_TASK_ALWAYS_EAGER else COALESCE_SECONDS,  # type: ignore[arg-type]
        )
    except RETRYABLE as error:
        logger.warning("broker unavailable, run %s not queued: %s", run.pk, error)
        services.run_failed(run.pk, f"Broker unavailable: {error}. reconcile_scores will retry.")
        try:
            if client is not None:
                client.delete(key)
        except redis.RedisError:
            pass  # the marker expires by itself
        return None
    except Exception:
        # Eager mode (no broker) runs the task right here: a scoring failure must not turn
        # a saved submission into an error page. The run is recorded as failed.
        logger.exception("aggregation run %s failed", run.pk)
    return run


def enqueue_survey_aggregation(
    survey_id: int, trigger: str = "survey closed"
) -> AggregationRun | None:
    """Queue a scoring run for every team of a survey; never raises (see above)."""
    run = AggregationRun.objects.create(survey_id=survey_id, trigger=trigger)
    try:
        aggregate_survey.apply_async((survey_id, run.pk))
    except RETRYABLE as error:
        logger.warning("broker unavailable, run %s not queued: %s", run.pk, error)
        services.run_failed(run.pk, f"Broker unavailable: {error}. reconcile_scores will retry.")
        return None
    except Exception:
        logger.exception("aggregation run %s failed", run.pk)  # eager mode, see above
    return run


# What follows scoring runs (services.scoring_followup), coalesced per survey: the teams
# written since the last follow-up, and a marker that one is queued.
FOLLOWUP_TTL_SECONDS = 3600


def _followup_keys(survey_id: int) -> tuple[str, str]:
    return f"maturity:followup-teams:{survey_id}", f"maturity:followup-queued:{survey_id}"


def enqueue_scoring_followup(
    sender: object, survey: Survey, team_ids: list[int], **kwargs: object
) -> None:
    """reports.signals.scores_written: queue scoring_followup for the survey, once for a
    burst of runs (the written teams gather in a Redis set until it runs, COALESCE_SECONDS
    later); run it right here when tasks run eagerly, or when Redis or the broker cannot
    be reached (the run then pays for it, as it did before). Never raises into the run."""
    client = _redis()
    if client is not None:
        teams_key, queued_key = _followup_keys(survey.pk)
        try:
            pipe = client.pipeline()
            if team_ids:
                pipe.sadd(teams_key, *team_ids)
            pipe.expire(teams_key, FOLLOWUP_TTL_SECONDS)
            pipe.set(queued_key, "1", nx=True, ex=FOLLOWUP_TTL_SECONDS)
            if not pipe.execute()[-1]:
                return  # a queued follow-up will read these teams too
            # celery-types declares countdown a float (see enqueue_team_aggregation).
            scoring_followup.apply_async((survey.pk,), countdown=COALESCE_SECONDS)
            return
        except RETRYABLE as error:
            logger.warning("survey %s: scoring follow-up done in the run: %s", survey.pk, error)
            with contextlib.suppress(redis.RedisError):
                client.delete(queued_key)
    try:
        services.scoring_followup(survey, team_ids)
    except Exception:
        # The scores are stored: a failed follow-up must not fail the run. Figures are
        # computed by the next page that needs them, campaigns by the daily refresh.
        logger.exception("survey %s: scoring follow-up failed", survey.pk)


@shared_task(bind=True, acks_late=True, ignore_result=True, autoretry_for=RETRYABLE,
             retry_backoff=2, max_retries=5)  # fmt: skip
def scoring_followup(self: Task[Any, Any], survey_id: int) -> int:
    """Run services.scoring_followup for the teams scoring runs of the survey wrote since
    the last one (queued by enqueue_scoring_followup). Returns how many teams. The marker
    is cleared before the teams are read, so a run from then on queues another follow-up;
    on failure the teams go back to the set for the retry."""
    client = _redis()
    teams_key, queued_key = _followup_keys(survey_id)
    team_ids: list[int] = []
    if client is not None:
        pipe = client.pipeline()
        pipe.delete(queued_key)
        pipe.smembers(teams_key)
        pipe.delete(teams_key)
        team_ids = sorted(int(member) for member in pipe.execute()[1])
    survey = Survey.objects.select_related("framework").filter(pk=survey_id).first()
    if survey is None:
        return 0
    try:
        services.scoring_followup(survey, team_ids)
    except Exception:
        if client is not None and team_ids:
            with contextlib.suppress(redis.RedisError):
                client.sadd(teams_key, *team_ids)
                client.expire(teams_key, FOLLOWUP_TTL_SECONDS)
        raise
    return len(team_ids)


class TaskOptions(TypedDict):
    """The options of the aggregation tasks (celery's task options of those names)."""

    bind: Literal[True]
    acks_late: bool
    reject_on_worker_lost: bool
    autoretry_for: tuple[type[BaseException], ...]
    retry_backoff: int
    retry_backoff_max: int
    retry_jitter: bool
    max_retries: int


_TASK_OPTIONS: TaskOptions = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": RETRYABLE,
    "retry_backoff": 2,
    # The visibility timeout and recover_stuck_runs allow for this wait (config.settings).
    "retry_backoff_max": settings.AGGREGATION_RETRY_BACKOFF_MAX,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(**_TASK_OPTIONS)
def aggregate_team(
    self: Task[Any, Any], survey_id: int, team_id: int, run_id: int | None = None
) -> dict[str, object]:
    """Score one team of a survey and persist its snapshot (idempotent)."""
    client = _redis()
    if client is not None:
        # From here on, new submissions need a new run: this one may not see them.
        client.delete(_pending_key(survey_id, team_id))
    return _run(self, survey_id, [team_id], run_id)


@shared_task(**_TASK_OPTIONS)
def aggregate_survey(
    self: Task[Any, Any], survey_id: int, run_id: int | None = None
) -> dict[str, object]:
    """Score every team of a survey in one pass (one GROUP BY for all teams), then
    compute its question health (``reports.health``)."""
    summary = _run(self, survey_id, None, run_id)
    survey = Survey.objects.select_related("framework").filter(pk=survey_id).first()
    if survey is not None:
        # After the scores are stored: a failure here (retried like the scoring) never
        # costs the round its scores.
        summary["question_health"] = _health_summary(health.question_health_refresh(survey=survey))
        if survey.status == Survey.Status.CLOSED:
            summary["results_notified"] = services.results_ready_notify(survey)
    return summary


def _health_summary(run: health.HealthRun) -> dict[str, object]:
    return {
        "questions": run.questions,
        "withheld_reason": run.withheld_reason,
        "written": run.written,
    }


@shared_task(**_TASK_OPTIONS)
def compute_question_health(self: Task[Any, Any], survey_id: int) -> dict[str, object]:
    """Compute one survey's question health and replace its stored rows (idempotent)."""
    survey = Survey.objects.select_related("framework").filter(pk=survey_id).first()
    if survey is None:
        return {"status": "failed", "error": "no such survey"}
    return _health_summary(health.question_health_refresh(survey=survey))


@shared_task(acks_late=True, ignore_result=True)
def refresh_question_health() -> int:
    """Queue question health for every open survey whose answers changed since it was
    computed (beat, every QUESTION_HEALTH_SECONDS); return how many were queued."""
    stale = health.question_health_stale_surveys()
    for survey_id in stale:
        try:
            compute_question_health.delay(survey_id)
        except RETRYABLE as error:  # the next beat tries again
            logger.warning("question health of survey %s not queued: %s", survey_id, error)
            return 0
    if stale:
        logger.info("refresh_question_health queued %d survey(s)", len(stale))
    return len(stale)


@shared_task(acks_late=True, ignore_result=True)
def refresh_evidence_verdicts() -> int:
    """Re-score, once a day (beat), the teams of open rounds that have evidence: a verdict
    depends on the evidence's age (``fresh_days``), which grows without any upload or
    answer. Return how many runs were queued."""
    queued = 0
    for survey_id, team_id in evidence_rescore_pairs():
        if enqueue_team_aggregation(survey_id, team_id, trigger="evidence age") is not None:
            queued += 1
    return queued


def evidence_rescore_pairs() -> list[tuple[int, int]]:
    """(survey id, team id) of open rounds whose framework has checks, for teams with a
    collected snapshot."""
    from evidence.models import Snapshot
    from maturity.models import Question

    teams = Snapshot.objects.filter(status=Snapshot.Status.COLLECTED).values("team_id")
    checked = Question.objects.exclude(checks=[]).values("framework_id")
    return list(
        Survey.teams.through.objects.filter(
            survey__status=Survey.Status.OPEN,
            survey__framework_id__in=checked,
            team_id__in=teams,
        )
        .values_list("survey_id", "team_id")
        .distinct()
    )


def _run(
    task: Task[Any, Any], survey_id: int, team_ids: list[int] | None, run_id: int | None
) -> dict[str, object]:
    """Run ``services.aggregate`` for a task; return its summary (the task's result)."""
    survey = Survey.objects.select_related("framework").filter(pk=survey_id).first()
    if survey is None:
        if run_id:
            services.run_failed(run_id, "The survey no longer exists.")
        return {"status": "failed", "error": "no such survey"}
    run = AggregationRun.objects.filter(pk=run_id).first() if run_id else None
    try:
        run = services.aggregate(survey=survey, team_ids=team_ids, run=run)
    except RETRYABLE as error:
        # max_retries None would mean "retry for ever": never give up then.
        out_of_retries = task.max_retries is not None and task.request.retries >= task.max_retries
        if run is not None and out_of_retries:
            services.run_failed(run.pk, f"Gave up after retries: {type(error).__name__}: {error}")
        raise  # autoretry_for retries it with backoff
    except Exception as error:
        if run is not None:
            services.run_failed(run.pk, f"{type(error).__name__}: {error}")
        raise
    return {"run": run.pk, "status": run.status, "teams_scored": run.teams_scored}


@shared_task(acks_late=True, ignore_result=True)
def reconcile_scores() -> int:
    """Re-enqueue every (survey, team) whose newest submission is newer than its snapshot."""
    stale = services.stale_team_scores()
    for survey_id, team_id in stale:
        enqueue_team_aggregation(survey_id, team_id, trigger="reconcile")
    if stale:
        logger.info("reconcile_scores re-enqueued %d stale team(s)", len(stale))
    return len(stale)


def lost_run_cutoffs(now: datetime) -> tuple[datetime, datetime]:
    """Return (started_before, queued_before): a run older than these at ``now`` is lost.

    A ``running`` run ends within the hard time limit, or waits at most the retry backoff
    and starts again (renewing its ``started_at``): lost after 300 + 120 + 60 s (margin) by
    default. A ``queued`` run's message held by a worker that died is handed to another one
    after the broker's visibility timeout: lost after 480 + 60 s by default. Settings:
    CELERY_TASK_TIME_LIMIT, AGGREGATION_RETRY_BACKOFF_MAX, AGGREGATION_RECOVERY_MARGIN and
    CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"].

    A message still waiting behind a backlog longer than that is taken for lost too: its
    work is enqueued twice (harmless, runs are idempotent) and its run, failed here, ends
    ``done`` when the message's turn comes.
    """
    margin = settings.AGGREGATION_RECOVERY_MARGIN
    running_for = settings.CELERY_TASK_TIME_LIMIT + settings.AGGREGATION_RETRY_BACKOFF_MAX + margin
    queued_for = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] + margin
    return now - timedelta(seconds=running_for), now - timedelta(seconds=queued_for)


@shared_task(acks_late=True, ignore_result=True)
def recover_stuck_runs() -> int:
    """Fail the runs whose worker or message was lost, enqueue their work again; count them.

    Beat sends this every minute. A lost team run re-enqueues its team, a lost survey-wide
    run its whole survey (trigger "recovery"), so scores converge as if nothing had been
    lost; the failed run keeps the reason in its error. Safe to run concurrently and again:
    each lost run is claimed once (``services.aggregation_runs_fail_lost``).
    """
    started_before, queued_before = lost_run_cutoffs(timezone.now())
    lost = services.aggregation_runs_fail_lost(
        started_before=started_before, queued_before=queued_before
    )
    surveys = {run.survey_id for run in lost if run.team_id is None}
    teams = {(run.survey_id, run.team_id) for run in lost if run.team_id is not None}
    for survey_id in sorted(surveys):
        enqueue_survey_aggregation(survey_id, trigger="recovery")
    for survey_id, team_id in sorted(teams):
        if survey_id not in surveys:  # the survey-wide run scores this team too
            enqueue_team_aggregation(survey_id, team_id, trigger="recovery")
    for run in lost:
        logger.warning("recovered aggregation run %s: %s", run.pk, run.error)
    return len(lost)


# --- export jobs (issue 17) -------------------------------------------------------------------


def enqueue_export_job(job: ExportJob) -> None:
    """Queue ``run_export_job`` once the job's row is committed; never raises.

    With the broker unreachable the job is failed at once with the reason (the API then
    answers 503), rather than left queued for ever.
    """

    def send() -> None:
        try:
            run_export_job.delay(job.pk)
        except RETRYABLE as error:
            logger.warning("broker unavailable, export job %s not queued: %s", job.pk, error)
            exports.export_job_fail(job.pk, f"The task broker is unreachable: {error}")

    transaction.on_commit(send)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_export_job(self: Task[Any, Any], job_id: int) -> str:
    """Run one export job (``reports.exports.export_job_run``); return its status.

    The stored request is validated again, as the endpoints validate it (the survey or team
    may be gone since). Any failure is recorded on the job, with its reason, and not
    retried: the owner sees it and creates another job. A worker lost mid-way (killed,
    out of memory) has its message redelivered, and the job starts again from the top.
    """
    from reports.api.exports import ExportQuerySerializer

    job = ExportJob.objects.select_related("owner", "token").filter(pk=job_id).first()
    if job is None or job.status not in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING):
        return "skipped"
    query = ExportQuerySerializer(data=job.params)
    if not query.is_valid():
        problems = "; ".join(
            f"{field}: {' '.join(str(message) for message in messages)}"
            for field, messages in query.errors.items()
        )
        exports.export_job_fail(job.pk, f"The export's filters are no longer valid: {problems}")
        return ExportJob.Status.FAILED
    request = exports.ExportRequest(kind=job.kind, **query.validated_data)
    try:
        exports.export_job_run(job, request)
    except SoftTimeLimitExceeded:
        exports.export_job_fail(
            job.pk,
            f"The export took longer than the workers' time limit "
            f"({settings.CELERY_TASK_SOFT_TIME_LIMIT} s, CELERY_TASK_SOFT_TIME_LIMIT); "
            "narrow it with team or since, or ask an operator to raise the limit.",
        )
        return ExportJob.Status.FAILED
    except Exception as error:
        logger.exception("export job %s failed", job.pk)
        exports.export_job_fail(job.pk, f"{type(error).__name__}: {error}")
        return ExportJob.Status.FAILED
    return ExportJob.Status.DONE


@shared_task(acks_late=True, ignore_result=True)
def delete_expired_exports() -> int:
    """Delete the files of export jobs past their expiry and fail the jobs that were lost
    (beat, every EXPORT_CLEANUP_SECONDS); return how many files were deleted."""
    lost = exports.export_jobs_fail_lost()
    if lost:
        logger.warning("delete_expired_exports failed %d lost export job(s)", lost)
    deleted = exports.export_jobs_delete_expired()
    if deleted:
        logger.info("delete_expired_exports deleted %d file(s)", deleted)
    return deleted


# --- improvement actions (issue 19) ----------------------------------------------------------


@shared_task(acks_late=True, ignore_result=True, autoretry_for=RETRYABLE, retry_backoff=2)
def verify_action(action_id: int) -> bool:
    """Check an action just marked done against the rounds scored since its own
    (reports.action_verification.action_verify)."""
    return action_verification.action_verify(action_id)


def on_action_done(sender: object, action_id: int, **kwargs: object) -> None:
    """actions.signals.action_done: queue verify_action; a broker outage only delays the
    verdict to the next scoring run of a later round (logged, never raised)."""
    try:
        verify_action.delay(action_id)
    except RETRYABLE as error:
        logger.warning("broker unavailable, action %s not verified now: %s", action_id, error)


# --- campaigns (issue 19) ---------------------------------------------------------------------


@shared_task(bind=True, acks_late=True, autoretry_for=RETRYABLE, retry_backoff=2, max_retries=5)
def refresh_campaign_progress(self: Task[Any, Any], campaign_id: int) -> dict[str, object]:
    """Compute one campaign's progress from the stored scores and store it (idempotent):
    queued after a campaign is created or its parent or goal changes."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return {"status": "skipped", "error": "no such campaign"}
    done = campaign_progress.campaign_progress_refresh(campaign)
    return {"status": "done", **done.counts.as_dict(), "milliseconds": done.milliseconds}


def enqueue_campaign_progress(sender: object, campaign_id: int, **kwargs: object) -> None:
    """Queue refresh_campaign_progress (campaigns.signals.campaign_changed, sent after the
    commit); never raises: with the broker down, the daily refresh computes it."""
    try:
        refresh_campaign_progress.delay(campaign_id)
    except RETRYABLE as error:
        logger.warning("campaign %s: progress not queued: %s", campaign_id, error)


@shared_task(acks_late=True, ignore_result=True)
def campaigns_daily() -> dict[str, int]:
    """Beat, daily: refresh every active campaign's progress (what no scoring run tells:
    teams moved or archived, rounds reopened), then publish campaign.deadline_near for
    those due soon that are not complete."""
    refreshed = campaign_progress.campaigns_refresh(campaign_selectors.active_campaigns())
    notified = campaign_services.campaign_deadlines_notify()
    return {"refreshed": len(refreshed), "deadline_near": notified}
