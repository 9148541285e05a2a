"""Benchmark the question-health computation on PostgreSQL against a bare SQL GROUP BY.

    .venv/bin/python benchmarks/quality.py                  # 200 teams x 100 x 50 = 1M answers
    .venv/bin/python benchmarks/quality.py --teams 20       # 100,000 answers, faster

Environment:
    BENCH_QUALITY_DATABASE_URL  the benchmark's own PostgreSQL database (default
                        postgres://postgres@127.0.0.1:5432/mlops_bench_quality). The script
                        creates it when missing and marks it (its comment starts with
                        "mlops-benchmark"); it refuses any database without that mark,
                        because it truncates the answers, responses and scores first.

The generated answers exercise every path: per question (by its index mod 10) everyone
answers 2 (uninformative), answers are uniform noise (ambiguous), or 30 % are "don't
know" (unknown); the rest follow the team's maturity +-1, with 2 % don't know and 2 % N/A.

Prints a markdown table (paste it into BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

from harness import (
    machine,
    median,
    peak_rss_mb,
    setup_django,
    synthetic_framework,
    table,
    timed,
    vacuum,
)

DATABASE_VARIABLE = "BENCH_QUALITY_DATABASE_URL"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mlops_bench_quality"
HEALTH_TABLES = ("reports_questionhealth", "reports_dimensionhealth")


def build(teams: int, respondents: int, questions: int, seed: int):  # type: ignore[no-untyped-def]
    """Truncate the survey tables and generate a survey; return it, the number of answers
    and the seconds the generation took.

    Only on the benchmark's own database: harness.setup_django refused any other.
    """
    from django.db import connection
    from django.utils import timezone

    from maturity.schema import parse_framework
    from maturity.services import framework_load
    from surveys.models import Survey, Team

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE surveys_answer, surveys_response, reports_questionhealth,"
            " reports_dimensionhealth, reports_aggregationrun, surveys_survey_teams,"
            " surveys_teamprofile, surveys_invitation, surveys_survey, surveys_membership,"
            " surveys_team CASCADE"
        )
    spec = parse_framework(
        synthetic_framework(
            f"quality-bench-{questions}",
            "Question health benchmark framework",
            questions,
            question_fields=lambda d, q: {"allow_na": True},
        )
    )
    framework = framework_load(spec=spec).framework
    now = timezone.now()
    Team.objects.bulk_create(Team(slug=f"t{i}", name=f"Team {i}") for i in range(teams))
    survey = Survey.objects.create(
        title="Question health benchmark", framework=framework, status="open", opens_at=now
    )
    survey.teams.set(Team.objects.all())

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [seed / 1000])
        cursor.execute(
            "INSERT INTO surveys_response (survey_id, team_id, respondent_key, status,"
            " started_at, updated_at, submitted_at, last_dimension, idempotency_fingerprint,"
            " withdrawn_reason)"
            " SELECT %s, t.id, 'b:' || t.id || ':' || g, 'submitted', now(), now(),"
            " now() - g * interval '1 second', '', '', ''"
            " FROM surveys_team t CROSS JOIN generate_series(1, %s) g",
            [survey.pk, respondents],
        )
        # kind = the question's index mod 10: 0 uninformative, 1 noise, 2 often unknown.
        cursor.execute(
            "INSERT INTO surveys_answer (response_id, question_id, score, na, dont_know,"
            " comment, updated_at)"
            " SELECT rid, qid,"
            " CASE WHEN dk OR na THEN NULL WHEN kind = 0 THEN 2"
            " WHEN kind = 1 THEN floor(noise * 5)::int"
            " ELSE LEAST(4, GREATEST(0, team_id %% 5 + floor(noise * 3)::int - 1)) END,"
            " na, dk, '', now()"
            " FROM (SELECT *, u < 0.02 AS na,"
            " u >= 0.02 AND u < CASE WHEN kind = 2 THEN 0.32 ELSE 0.04 END AS dk"
            ' FROM (SELECT r.id AS rid, q.id AS qid, r.team_id, q."order" %% 10 AS kind,'
            " random() AS noise, random() AS u"
            " FROM surveys_response r CROSS JOIN maturity_question q"
            " WHERE r.survey_id = %s AND q.framework_id = %s) drawn) generated",
            [survey.pk, framework.pk],
        )
        answers = cursor.rowcount
    generate_seconds = time.perf_counter() - started
    vacuum("surveys_answer", "surveys_response")
    return survey, answers, generate_seconds


def floor_query(survey_id: int) -> None:
    """The baseline: one bare GROUP BY question over the same counted answers."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.question_id, COUNT(*), COUNT(*) FILTER (WHERE a.na),"
            " COUNT(*) FILTER (WHERE a.dont_know), AVG(a.score)"
            " FROM surveys_answer a JOIN surveys_response r ON r.id = a.response_id"
            " WHERE r.survey_id = %s AND r.status = 'submitted'"
            " GROUP BY a.question_id",
            [survey_id],
        )
        cursor.fetchall()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--teams", type=int, default=200)
    parser.add_argument("--respondents", type=int, default=100)
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    setup_django(DATABASE_VARIABLE, DEFAULT_URL)
    from maturity import quality
    from reports.health import counted_answers, question_health_refresh
    from reports.models import QuestionHealth
    from reports.services import framework_tables

    survey, answers, generate_seconds = build(
        args.teams, args.respondents, args.questions, args.seed
    )
    print(
        f"generated {answers:,} answers in {generate_seconds:.1f} s (server-side INSERT ... SELECT)"
    )

    def settle() -> None:
        vacuum(*HEALTH_TABLES)

    settle()
    floor = timed(lambda: floor_query(survey.pk), args.runs)
    runs = []
    refresh = timed(lambda: runs.append(question_health_refresh(survey=survey)), args.runs, settle)
    rss_after = peak_rss_mb()
    tables = framework_tables(survey.framework)
    frame = counted_answers(survey, tables)
    per_question = timed(lambda: quality.question_health(frame), args.runs)
    per_dimension = timed(lambda: quality.dimension_health(frame), args.runs)
    tracemalloc.start()
    question_health_refresh(survey=survey)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    flags: dict[str, int] = {}
    for row_flags in QuestionHealth.objects.filter(survey=survey).values_list("flags", flat=True):
        for flag in row_flags:
            flags[flag] = flags.get(flag, 0) + 1
    base = median(floor)
    loads = [run.load_ms / 1000 for run in runs]
    computes = [run.compute_ms / 1000 for run in runs]
    persists = [run.persist_ms / 1000 for run in runs]
    rows = [
        ["floor: bare SQL GROUP BY question (counts, avg)", f"{base:.3f} s", "1.0x"],
        [
            "question_health_refresh (load + compute + persist)",
            f"{median(refresh):.3f} s",
            f"{median(refresh) / base:.1f}x",
        ],
        [
            "  of which load / compute / persist (medians)",
            f"{median(loads):.3f} / {median(computes):.3f} / {median(persists):.3f} s",
            f"{median(loads) / base:.1f}x load",
        ],
        [
            "  compute: maturity.quality.question_health",
            f"{median(per_question):.3f} s",
            "",
        ],
        [
            "  compute: maturity.quality.dimension_health",
            f"{median(per_dimension):.3f} s",
            "",
        ],
        [
            "peak memory (process RSS after the runs / traced Python peak of one run)",
            f"{rss_after:.0f} MB / {traced_peak / 2**20:.0f} MB",
            "",
        ],
    ]
    print()
    print(f"Machine: {machine()}")
    print(
        f"Data: {args.teams:,} teams x {args.respondents} respondents x {args.questions} "
        f"questions = {answers:,} answers; medians of {args.runs} runs; flags raised: "
        + ", ".join(f"{name} {count}" for name, count in sorted(flags.items()))
    )
    print()
    print(table(["measure", "time", "vs floor"], rows))


if __name__ == "__main__":
    main()
