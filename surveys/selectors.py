"""Reads of surveys, teams and memberships: the respondent pages, the API, and who may
read which team (reports use these too; see also reports.selectors)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Case, Count, Exists, OuterRef, Prefetch, Q, QuerySet, When

from maturity.models import Choice, Dimension, Framework, Question
from maturity.schema import TeamProfile as ProfileSpec
from maturity.scope import TeamPlan, plan_round, round_parents
from maturity.selectors import QuestionRules, per_framework_version, question_rules
from surveys.models import (
    Answer,
    Invitation,
    Membership,
    Response,
    ResultsNotice,
    Survey,
    Team,
    TeamProfile,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


def progress_percent(answered: int, total: int) -> int:
    """Return the share answered as a whole percent, rounded down: 100% only when complete
    (249 of 250 is 99%, not the 100% rounding to nearest would claim)."""
    return 100 * answered // total if total else 0


@dataclass(frozen=True)
class SurveyEntry:
    """One (survey, team) a user may answer, with their progress."""

    survey: Survey
    team: Team
    role: str
    answered: int
    total: int
    draft: bool
    submitted_at: datetime | None
    # "none", "proposed" or "confirmed" where the framework's questions depend on a team
    # profile; None where they do not (version 1).
    profile_status: str | None = None
    # Questions the team is asked that the counted submission does not answer: they came
    # into scope after it (a profile change); the submission counts as it is.
    new_in_scope: int = 0
    # The person was told this round's results of one of their teams are ready
    # (surveys.services.results_notify).
    results_ready: bool = False

    @property
    def percent(self) -> int:
        return progress_percent(self.answered, self.total)

    @property
    def state(self) -> str:
        if self.submitted_at and self.draft:
            return "submitted, changes in progress"
        if self.submitted_at:
            return "submitted"
        return "in progress" if self.draft else "not started"


@per_framework_version
def framework_outline(framework: Framework) -> list[Dimension]:
    """Return the framework's dimensions with questions and choices prefetched, in order.

    Read once per framework version and process (a version that has answers never
    changes): building its ~900 model instances was 60 % of an autosave's time (issue 17,
    BENCHMARKS.md "Load and soak"). Callers share the instances and must not change them.
    """
    questions = Question.objects.order_by("order").prefetch_related(
        Prefetch("choices", queryset=Choice.objects.order_by("score"))
    )
    return list(
        framework.dimensions.order_by("order").prefetch_related(
            Prefetch("questions", queryset=questions)
        )
    )


def answered() -> Q:
    """Return the condition of an answer that counts as given: a choice, N/A or don't know."""
    return Q(score__isnull=False) | Q(na=True) | Q(dont_know=True)


def survey_entries_for(user: User) -> list[SurveyEntry]:
    """Return the non-draft surveys of the user's teams, open ones first.

    Progress counts the questions the team is asked (``team_plan``): not those its parent
    team answers for it, nor those out of scope for its profile.
    """
    from surveys.services import respondent_key_for

    memberships = {m.team_id: m.role for m in Membership.objects.filter(user=user)}
    surveys = (
        Survey.objects.exclude(status=Survey.Status.DRAFT)
        .filter(teams__in=memberships.keys())
        .distinct()
        .select_related("framework")
        .prefetch_related("teams")
    )
    told = set(ResultsNotice.objects.filter(user=user).values_list("survey_id", flat=True))
    entries = []
    for survey in surveys:
        key = respondent_key_for(user, survey)
        plans = round_plans(survey)
        uses_profiles = question_rules(survey.framework).uses_profiles
        profiles: dict[int, str] = {}
        if uses_profiles:
            profiles = {
                team_id: "confirmed" if confirmed_at else "proposed"
                for team_id, confirmed_at in TeamProfile.objects.filter(
                    survey=survey, team_id__in=memberships.keys()
                ).values_list("team_id", "confirmed_at")
            }
        responses = {
            (r.team_id, r.status): r
            for r in Response.objects.filter(
                survey=survey, respondent_key=key, status__in=["draft", "submitted"]
            )
        }
        given: dict[int, set[int]] = {}
        for response_id, question_id in Answer.objects.filter(
            answered(), response__in=[r.pk for r in responses.values()]
        ).values_list("response_id", "question_id"):
            given.setdefault(response_id, set()).add(question_id)
        for team in survey.teams.all():
            if team.pk not in memberships:
                continue
            asked = plans[team.pk].asked
            draft = responses.get((team.pk, "draft"))
            submitted = responses.get((team.pk, "submitted"))
            current = draft if draft is not None else submitted
            entries.append(
                SurveyEntry(
                    survey=survey,
                    team=team,
                    role=memberships[team.pk],
                    answered=len(given.get(current.pk, set()) & asked) if current else 0,
                    total=len(asked),
                    draft=draft is not None,
                    submitted_at=submitted.submitted_at if submitted else None,
                    profile_status=profiles.get(team.pk, "none") if uses_profiles else None,
                    new_in_scope=len(asked - given.get(submitted.pk, set())) if submitted else 0,
                    results_ready=survey.pk in told,
                )
            )
    entries.sort(key=lambda e: (not e.survey.accepts_answers(), -e.survey.opens_at.timestamp()))
    return entries


def answers_by_question(
    response: Response, question_ids: Iterable[int] | None = None
) -> dict[int, Answer]:
    """Return the response's answers keyed by question id (only ``question_ids``' if given)."""
    answers = response.answers.all()
    if question_ids is not None:
        answers = answers.filter(question_id__in=list(question_ids))
    return {answer.question_id: answer for answer in answers}


def answered_question_ids(response: Response) -> set[int]:
    """Return the ids of the questions the response answered (a choice, N/A or don't know)."""
    return set(response.answers.filter(answered()).values_list("question_id", flat=True))


def same_answers(one: Response, other: Response) -> bool:
    """Tell whether two responses hold exactly the same answers (choice, N/A, don't know
    and comment of every question)."""
    fields = ("question_id", "score", "na", "dont_know", "comment")
    return set(one.answers.values_list(*fields)) == set(other.answers.values_list(*fields))


def respondent_answered_ids(survey: Survey, team: Team, respondent_key: str) -> set[int]:
    """Return the ids of the questions the respondent's answers cover now: their draft's,
    else their counted submission's, else none. Reads only (starts no draft)."""
    response = (
        Response.objects.filter(
            survey=survey,
            team=team,
            respondent_key=respondent_key,
            status__in=["draft", "submitted"],
        )
        .order_by(Case(When(status="draft", then=0), default=1))
        .first()
    )
    return set() if response is None else answered_question_ids(response)


def new_in_scope(survey: Survey, team: Team, respondent_key: str, plan: TeamPlan) -> int:
    """Return how many of the questions ``plan`` asks the respondent's counted submission
    leaves unanswered: they came into scope after it (the team's profile changed), since a
    submission answers every question asked then. 0 without a submission."""
    submitted = Response.objects.filter(
        survey=survey, team=team, respondent_key=respondent_key, status="submitted"
    ).first()
    if submitted is None:
        return 0
    return len(plan.asked - answered_question_ids(submitted))


# --- which questions a team answers (scope and profile; rule in maturity.scope) ---------------


def profile_spec(profile: TeamProfile) -> ProfileSpec:
    """Return a stored team profile as the pure spec that applies_when is matched against."""
    return ProfileSpec.model_validate(
        {
            "serving": profile.serving,
            "model_kinds": profile.model_kinds,
            "gpu": profile.gpu,
            "regulated": profile.regulated,
        }
    )


def round_plans(survey: Survey, team_ids: Iterable[int] | None = None) -> dict[int, TeamPlan]:
    """Return every survey team's :class:`maturity.scope.TeamPlan`, keyed by team id.

    ``team_ids`` limits the plans returned (and the profiles read) to those survey teams:
    one team's scoring run in a large round need not plan all of them. When every question
    is team-scope and unconditional (version 1), one query: the round's teams. Otherwise two
    besides the framework's rules (cached per version): every team with its parent and
    whether it takes part in the round (one scan of a small table, cheaper than walking a
    large round's ancestors level by level with long IN lists), and the round's profiles.
    """
    wanted = None if team_ids is None else set(team_ids)
    rules = question_rules(survey.framework)
    if rules.unconditional:  # every team answers everything: no more to read
        everything = _everything(rules)
        return {
            team: everything
            for team in survey.teams.values_list("id", flat=True)
            if wanted is None or team in wanted
        }
    in_round = Survey.teams.through.objects.filter(survey_id=survey.pk, team_id=OuterRef("pk"))
    parent_of: dict[int, int | None] = {}
    round_teams: set[int] = set()
    for pk, parent, taking_part in (
        Team.objects.order_by()
        .annotate(taking_part=Exists(in_round))
        .values_list("pk", "parent_id", "taking_part")
    ):
        parent_of[pk] = parent
        if taking_part:
            round_teams.add(pk)
    profiles = {
        profile.team_id: profile_spec(profile)
        for profile in TeamProfile.objects.filter(
            survey=survey, team_id__in=round_teams if wanted is None else round_teams & wanted
        )
    }
    return plan_round(rules.rules, round_parents(parent_of, round_teams), profiles, wanted)


def _everything(rules: QuestionRules) -> TeamPlan:
    return TeamPlan(frozenset(rule.id for rule in rules.rules), {}, frozenset())


def team_plan(survey: Survey, team: Team) -> TeamPlan:
    """Return the :class:`maturity.scope.TeamPlan` of one team of ``survey``.

    A team outside the round is asked nothing (an empty plan); callers check participation
    separately and say so. Where every question is team-scope and unconditional (version
    1), every team is asked everything and nothing is read (not even participation): the
    submission path of version 1 costs no query more.
    """
    rules = question_rules(survey.framework)
    if rules.unconditional:
        return _everything(rules)
    plan = round_plans(survey, [team.pk]).get(team.pk)
    if plan is None:
        return TeamPlan(frozenset(), {}, frozenset())
    return plan


def team_names(team_ids: Iterable[int]) -> dict[int, str]:
    """Return the names of teams by id (for messages naming the team that answers)."""
    return dict(Team.objects.filter(pk__in=set(team_ids)).values_list("pk", "name"))


def team_profile(survey: Survey, team: Team) -> TeamProfile | None:
    """Return the team's profile in ``survey`` (who declared and confirmed it loaded)."""
    return (
        TeamProfile.objects.select_related("declared_by", "confirmed_by")
        .filter(survey=survey, team=team)
        .first()
    )


@dataclass(frozen=True)
class AskedDimension:
    """A dimension of a survey page set, with only the questions a team is asked there."""

    dimension: Dimension
    questions: list[Question]

    @property
    def key(self) -> str:
        return self.dimension.key


def asked_outline(survey: Survey, plan: TeamPlan) -> list[AskedDimension]:
    """Return the framework's dimensions, in order, with the questions in ``plan.asked``
    (choices prefetched); dimensions with none are left out."""
    outline = []
    for dimension in framework_outline(survey.framework):
        questions = [q for q in dimension.questions.all() if q.pk in plan.asked]
        if questions:
            outline.append(AskedDimension(dimension, questions))
    return outline


# --- who may see what -------------------------------------------------------------------


def team_with_descendants(team_ids: set[int]) -> set[int]:
    """Return the teams and every team below them (parent links), breadth first."""
    found = set(team_ids)
    frontier = set(team_ids)
    while frontier:
        frontier = set(Team.objects.filter(parent_id__in=frontier).values_list("id", flat=True))
        frontier -= found
        found |= frontier
    return found


def runs_programme(user: User | AnonymousUser) -> bool:
    """Tell whether ``user`` runs the programme: admins (Django staff) and programme leads
    (the ``surveys.run_programme`` permission, directly or through a group). They use the
    lead's console (/manage/) and the membership import."""
    return bool(user.is_active and (user.is_staff or user.has_perm("surveys.run_programme")))


def managed_team_ids(user: User) -> set[int] | None:
    """Return the ids of teams a user manages (with sub-teams); None means all (admins)."""
    if user.is_staff:
        return None
    direct = set(
        Membership.objects.filter(user=user, role=Membership.Role.MANAGER).values_list(
            "team_id", flat=True
        )
    )
    return team_with_descendants(direct)


# ``managed`` not given: the selector looks it up (managed_team_ids). Callers that have it
# already pass it (a page asks several selectors).
LOOK_UP: Any = object()


def readable_team_ids(
    user: User | AnonymousUser, survey: Survey, managed: set[int] | None = LOOK_UP
) -> set[int]:
    """Return the survey's teams whose results ``user`` may read (none when signed out).

    Only an admin's answer grows with the survey: others' is looked up among the teams
    they manage or belong to. ``managed``: managed_team_ids(user), when the caller has it
    (a page asks for several surveys).
    """
    if not user.is_authenticated:
        return set()
    survey_teams = survey.teams.all()
    if managed is LOOK_UP:
        managed = managed_team_ids(user)
    if managed is None:
        return set(survey_teams.values_list("id", flat=True))
    wanted = set(managed)
    if survey.members_see_results:
        wanted |= set(Membership.objects.filter(user=user).values_list("team_id", flat=True))
    if not wanted:
        return set()
    return set(survey_teams.filter(pk__in=wanted).values_list("id", flat=True))


def readable_surveys(user: User, managed: set[int] | None = LOOK_UP) -> QuerySet[Survey]:
    """Surveys a user may see: all for admins, else those with one of their teams.

    ``managed``: managed_team_ids(user), when the caller has it."""
    if user.is_staff:
        return Survey.objects.all()
    memberships = list(Membership.objects.filter(user=user).values_list("team_id", "role"))
    if managed is LOOK_UP:
        direct = {team for team, role in memberships if role == Membership.Role.MANAGER}
        managed = team_with_descendants(direct)
    teams = {team for team, _ in memberships} | (managed or set())
    return Survey.objects.filter(teams__in=teams).distinct()


def api_surveys(user: User) -> QuerySet[Survey]:
    """Return the surveys a user may see: all for admins, else readable non-drafts."""
    surveys = readable_surveys(user)
    if not user.is_staff:
        surveys = surveys.exclude(status=Survey.Status.DRAFT)
    return surveys


def api_teams(user: User) -> QuerySet[Team]:
    """Return the teams a user may see: all for admins, else their own and managed ones."""
    if user.is_staff:
        return Team.objects.all()
    mine = set(Membership.objects.filter(user=user).values_list("team_id", flat=True))
    return Team.objects.filter(pk__in=mine | (managed_team_ids(user) or set()))


@dataclass
class TeamParticipation:
    """How far a team of a round is: members, personal invitations (anonymous rounds),
    respondents with a draft only (``started``) and counted responses (``submitted``).
    ``waiting_for``: in named rounds, the members who have not submitted (always empty in
    anonymous ones, whose respondents nobody may identify)."""

    team: Team
    members: int = 0
    invitations: int = 0
    started: int = 0
    submitted: int = 0
    waiting_for: list[User] = field(default_factory=list)

    @property
    def percent(self) -> int:
        """Submitted as a share of the members (invitations included), rounded down; never
        over 100 (people who submitted may have left the team since)."""
        invited = max(self.members + self.invitations, self.submitted, 1)
        return progress_percent(self.submitted, invited)


def participation(survey: Survey) -> list[TeamParticipation]:
    """Return the participation of each team of ``survey`` (by name), in five statements.

    Counts: memberships of active accounts, personal invitations (anonymous rounds; not
    revoked), respondents with a draft and no counted response, counted (submitted)
    responses. Who has not
    submitted is worked out only in named rounds, from the respondent keys ``u:<user id>``.
    """
    teams = list(survey.teams.order_by("name"))
    rows = {team.pk: TeamParticipation(team) for team in teams}
    active = Membership.objects.filter(team__in=teams, user__is_active=True)
    for count in active.values("team").annotate(n=Count("id")):
        rows[count["team"]].members = count["n"]
    invited = Invitation.objects.filter(survey=survey, revoked=False).exclude(invitee_key="")
    for count in invited.values("team").annotate(n=Count("invitee_key", distinct=True)):
        rows[count["team"]].invitations = count["n"]
    keys: dict[tuple[int, str], set[str]] = {}
    for team_id, status, key in Response.objects.filter(
        survey=survey, status__in=[Response.Status.DRAFT, Response.Status.SUBMITTED]
    ).values_list("team_id", "status", "respondent_key"):
        keys.setdefault((team_id, status), set()).add(key)
    for team_id, entry in rows.items():
        submitted = keys.get((team_id, Response.Status.SUBMITTED), set())
        entry.submitted = len(submitted)
        entry.started = len(keys.get((team_id, Response.Status.DRAFT), set()) - submitted)
    if not survey.anonymous:
        members = active.select_related("user")
        for membership in members.order_by("user__username"):
            submitted = keys.get((membership.team_id, Response.Status.SUBMITTED), set())
            if f"u:{membership.user_id}" not in submitted:
                rows[membership.team_id].waiting_for.append(membership.user)
    return list(rows.values())


@dataclass
class AnsweredAbove:
    """A platform or organisation question an ancestor team answers for a team (read-only
    on the team's pages): the ancestor's most chosen answer so far in a named round (its
    ``label`` and how many of its ``respondents`` chose it); nothing in anonymous rounds."""

    question: Question
    answered_by: Team
    label: str = ""
    chosen_by: int = 0
    respondents: int = 0


def answered_above(survey: Survey, plan: TeamPlan) -> list[AnsweredAbove]:
    """Return the questions ``plan`` inherits from ancestors, in framework order, with the
    ancestors' answers so far (counted responses; named rounds only: an anonymous round
    shows no team's answers before it closes, and then only in reports). Four statements."""
    if not plan.inherited:
        return []
    questions = (
        Question.objects.filter(pk__in=plan.inherited)
        .select_related("dimension")
        .prefetch_related("choices")
        .order_by("dimension__order", "order")
    )
    teams = Team.objects.in_bulk(set(plan.inherited.values()))
    rows = [AnsweredAbove(q, teams[plan.inherited[q.pk]]) for q in questions]
    if survey.anonymous:
        return rows
    counted = (
        Answer.objects.filter(
            response__survey=survey,
            response__status=Response.Status.SUBMITTED,
            question_id__in=plan.inherited,
        )
        .values_list("question_id", "response__team_id", "score", "na", "dont_know")
        .annotate(n=Count("id"))
        .order_by()
    )
    tally: dict[tuple[int, int], dict[str, int]] = {}
    for question_id, team_id, score, na, dont_know, n in counted:  # counted by the database
        key = "N/A" if na else "Don't know" if dont_know else str(score)
        tally.setdefault((question_id, team_id), {})[key] = n
    for row in rows:
        per = tally.get((row.question.pk, row.answered_by.pk), {})
        if not per:
            continue
        top = max(sorted(per), key=lambda key: per[key])
        labels = {str(choice.score): choice.label for choice in row.question.choices.all()}
        row.label, row.chosen_by, row.respondents = (
            labels.get(top, top),
            per[top],
            sum(per.values()),
        )
    return rows
