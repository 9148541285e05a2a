"""factory_boy factories for the domain models."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from surveys.models import Answer, Membership, Response, Survey, Team


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("pass-word-123")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.LazyAttribute(lambda team: team.slug.replace("-", " ").title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    role = Membership.Role.MEMBER


class SurveyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Survey
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"Survey {n}")
    status = Survey.Status.OPEN
    opens_at = factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(days=1))
    closes_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(days=30))

    @factory.post_generation
    def teams(self, create: bool, extracted, **kwargs) -> None:
        if create and extracted:
            self.teams.set(extracted)


class SubmittedResponseFactory(factory.django.DjangoModelFactory):
    """A counted response written as an import would write it, without the submission
    service's checks of which questions must be answered."""

    class Meta:
        model = Response

    survey = factory.SubFactory(SurveyFactory)
    team = factory.SubFactory(TeamFactory)
    respondent_key = factory.Sequence(lambda n: f"x:imported-{n}")
    status = Response.Status.SUBMITTED
    submitted_at = factory.LazyFunction(timezone.now)


class AnswerFactory(factory.django.DjangoModelFactory):
    """An answer: a choice ``score``, ``na=True``, or ``dont_know=True`` (score None)."""

    class Meta:
        model = Answer

    response = factory.SubFactory(SubmittedResponseFactory)
    score = None
