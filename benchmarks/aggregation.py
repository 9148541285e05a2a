"""Benchmark aggregation on PostgreSQL against a bare SQL GROUP BY in the same run.

    .venv/bin/python benchmarks/aggregation.py                 # 1,000 teams x 100 x 50 = 5M
    .venv/bin/python benchmarks/aggregation.py --teams 100     # smaller, faster

Environment:
    BENCH_DATABASE_URL  the benchmark's own PostgreSQL database (default
                        postgres://postgres@127.0.0.1:5432/mlops_bench). The script creates
                        it when missing and marks it (its comment starts with
                        "mlops-benchmark"); it refuses any database without that mark,
                        because it truncates the answers, responses and scores first.

Prints a markdown table (paste it into BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import tracemalloc

from harness import (
    generate_survey,
    machine,
    median,
    p95,
    peak_rss_mb,
    setup_django,
    synthetic_framework,
    table,
    timed,
    truncate_surveys,
    vacuum,
)

SNAPSHOT_TABLES = (
    "reports_teamscore",
    "reports_dimensionscore",
    "reports_questionscore",
    "reports_teamrecommendation",
    "reports_aggregationrun",
)


def reused(args):  # type: ignore[no-untyped-def]
    """Return the survey an earlier run generated, if it has the asked-for size."""
    from surveys.models import Survey

    survey = Survey.objects.select_related("framework").order_by("-pk").first()
    if survey is None:
        return None
    teams = survey.teams.exclude(slug="probe").count()
    questions = survey.framework.questions.count()
    if (teams, questions) != (args.teams, args.questions):
        return None
    return survey


def build(teams: int, respondents: int, questions: int, seed: int):  # type: ignore[no-untyped-def]
    """Truncate the survey tables and generate a survey on a synthetic framework; return
    it, its probe team, the number of answers and the seconds the generation took.

    Only on the benchmark's own database: harness.setup_django refused any other.
    """
    from maturity.schema import parse_framework
    from maturity.services import framework_load

    truncate_surveys()
    spec = parse_framework(
        synthetic_framework(
            f"bench-{questions}",
            "Benchmark framework",
            questions,
            question_fields=lambda d, q: {
                "weight": 1 + (q % 2),
                "requires": [f"q{d}-{q - 1}"] if q % 2 else [],
            },
            dimension_fields=lambda d: {"weight": 1 + (d % 3) / 2},
        )
    )
    framework = framework_load(spec=spec).framework
    return generate_survey(framework, teams, respondents, seed)


def floor_query(survey_id: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.team_id, a.question_id, COUNT(*), AVG(a.score)"
            " FROM surveys_answer a JOIN surveys_response r ON r.id = a.response_id"
            " WHERE r.survey_id = %s AND r.status = 'submitted'"
            " GROUP BY r.team_id, a.question_id",
            [survey_id],
        )
        cursor.fetchall()


def forget_response_scores() -> None:
    """Delete every per-response dimension score, as after a bulk import or a lost queue,
    and VACUUM the table (untimed), so that the next run records them all."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM surveys_responsedimensionscore")
    vacuum("surveys_responsedimensionscore", *SNAPSHOT_TABLES)


def naive_orm(survey, team_ids: list[int]) -> None:  # type: ignore[no-untyped-def]
    """The straightforward way: per team, loop over every answer in Python, save row by row."""
    from django.utils import timezone

    from reports.models import DimensionScore, TeamScore
    from surveys.models import Answer

    for team_id in team_ids:
        per_question: dict[int, list[float]] = {}
        questions = {}
        answers = Answer.objects.filter(
            response__survey=survey, response__team_id=team_id, response__status="submitted"
        ).select_related("question__dimension")
        for answer in answers:
            if answer.score is None:
                continue
            questions[answer.question_id] = answer.question
            per_question.setdefault(answer.question_id, []).append(
                answer.score / answer.question.max_score
            )
        per_dimension: dict[int, list[tuple[float, float]]] = {}
        for question_id, values in per_question.items():
            question = questions[question_id]
            per_dimension.setdefault(question.dimension_id, []).append(
                (question.weight, sum(values) / len(values))
            )
        team_score, _ = TeamScore.objects.update_or_create(
            survey=survey, team_id=team_id, defaults={"computed_at": timezone.now()}
        )
        team_score.dimensions.all().delete()
        for dimension_id, pairs in per_dimension.items():
            score = 100 * sum(w * q for w, q in pairs) / sum(w for w, _ in pairs)
            DimensionScore.objects.create(
                team_score=team_score,
                dimension_id=dimension_id,
                score=score,
                level=min(4, int(score // 20)),
                answered_ratio=1.0,
                n_answers=0,
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--respondents", type=int, default=100)
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--team-runs", type=int, default=40)
    parser.add_argument("--naive-teams", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--reuse", action="store_true", help="measure the survey an earlier run generated"
    )
    args = parser.parse_args()

    setup_django()
    from reports.services import aggregate

    survey = reused(args) if args.reuse else None
    if survey is None:
        survey, probe, answers, generate_seconds = build(
            args.teams, args.respondents, args.questions, args.seed
        )
        print(
            f"generated {answers:,} answers in {generate_seconds:.1f} s "
            f"({answers / generate_seconds:,.0f} rows/s, server-side INSERT ... SELECT)"
        )
    else:
        from surveys.models import Answer, Team

        probe = Team.objects.get(slug="probe")
        answers = Answer.objects.filter(response__survey=survey).count()
        print(f"reusing the generated survey ({answers:,} answers)")
        vacuum("surveys_answer", "surveys_response", "surveys_responsedimensionscore")

    def settle() -> None:
        vacuum(*SNAPSHOT_TABLES)

    settle()
    floor = timed(lambda: floor_query(survey.pk), args.runs)
    runs = []
    survey_seconds = timed(lambda: runs.append(aggregate(survey=survey)), args.runs, settle)
    rss_after_survey = peak_rss_mb()
    cold_runs = []
    cold_seconds = timed(
        lambda: cold_runs.append(aggregate(survey=survey)), args.runs, forget_response_scores
    )
    tracemalloc.start()
    aggregate(survey=survey)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    settle()
    team_seconds = timed(lambda: aggregate(survey=survey, team_ids=[probe.pk]), args.team_runs)

    subset = list(
        survey.teams.exclude(pk=probe.pk).values_list("pk", flat=True)[: args.naive_teams]
    )
    naive = timed(lambda: naive_orm(survey, subset), 1)
    ours_subset = timed(lambda: aggregate(survey=survey, team_ids=subset), args.runs, settle)
    fan_out_estimate = median(team_seconds) * (args.teams + 1)

    last = runs[-1]
    rows = [
        ["floor: bare SQL GROUP BY team, question (count, avg)", f"{median(floor):.3f} s", "1.0x"],
        [
            "aggregate_survey, one pass (load + score + persist)",
            f"{median(survey_seconds):.3f} s",
            f"{median(survey_seconds) / median(floor):.1f}x",
        ],
        [
            "  of which load / score / persist (last run)",
            f"{last.load_ms / 1000:.3f} / {last.score_ms / 1000:.3f} / "
            f"{last.persist_ms / 1000:.3f} s",
            "",
        ],
        [
            "aggregate_survey, cold: no per-response dimension scores recorded yet",
            f"{median(cold_seconds):.3f} s",
            f"{median(cold_seconds) / median(floor):.1f}x",
        ],
        [
            "  of which load (recording them) / score / persist (last run)",
            f"{cold_runs[-1].load_ms / 1000:.3f} / {cold_runs[-1].score_ms / 1000:.3f} / "
            f"{cold_runs[-1].persist_ms / 1000:.3f} s",
            "",
        ],
        [
            "aggregate_team, 10-respondent team in that survey",
            f"p50 {median(team_seconds) * 1000:.1f} ms, p95 {p95(team_seconds) * 1000:.1f} ms",
            "",
        ],
        [
            f"fan-out estimate ({args.teams + 1} x aggregate_team p50)",
            f"{fan_out_estimate:.1f} s",
            f"{fan_out_estimate / median(floor):.1f}x",
        ],
        [
            f"naive ORM loop, {len(subset)} teams "
            f"({len(subset) * args.respondents * args.questions:,} answers)",
            f"{naive[0]:.3f} s",
            f"{naive[0] / median(ours_subset):.0f}x ours",
        ],
        [f"ours on the same {len(subset)} teams", f"{median(ours_subset):.3f} s", ""],
        [
            "peak memory (process RSS after survey runs / traced Python peak of one run)",
            f"{rss_after_survey:.0f} MB / {traced_peak / 2**20:.0f} MB",
            "",
        ],
    ]
    print()
    print(f"Machine: {machine()}")
    print(
        f"Data: {args.teams:,} teams x {args.respondents} respondents x {args.questions} "
        f"questions = {answers:,} answers (+ a 10-respondent probe team); medians of "
        f"{args.runs} runs, aggregate_team over {args.team_runs} runs"
    )
    print()
    print(table(["measure", "time", "vs floor"], rows))


if __name__ == "__main__":
    main()
