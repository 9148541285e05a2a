"""Submission API: POST /api/v1/surveys/{id}/responses/ (DESIGN.md section 5)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.crypto import salted_hmac
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from maturity.models import Question
from surveys import services
from surveys.models import Membership, Response, Survey


class AnswerInSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=64, help_text="Question key.")
    choice = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, help_text="Choice score; null with na."
    )
    na = serializers.BooleanField(required=False, default=False)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class ResponseInSerializer(serializers.Serializer):
    team = serializers.SlugField(max_length=64)
    answers = AnswerInSerializer(many=True, allow_empty=False, max_length=1000)
    respondent = serializers.CharField(
        required=False,
        max_length=150,
        help_text="Admins only: username (named surveys) or an opaque external id (anonymous).",
    )

    def validate_team(self, slug: str) -> Any:
        survey: Survey = self.context["survey"]
        team = survey.teams.filter(slug=slug).first()
        if team is None:
            raise serializers.ValidationError(f"Team '{slug}' is not part of this survey.")
        return team

    def validate_answers(self, answers: list[dict[str, Any]]) -> list[services.AnswerInput]:
        survey: Survey = self.context["survey"]
        questions = {
            q.key: q
            for q in Question.objects.filter(framework_id=survey.framework_id).prefetch_related(
                "choices"
            )
        }
        errors: list[dict[str, list[str]]] = []
        seen: set[str] = set()
        result = []
        for answer in answers:
            error: dict[str, list[str]] = {}
            question = questions.get(answer["question"])
            choice, na = answer.get("choice"), answer.get("na", False)
            if question is None:
                error["question"] = [f"Unknown question key '{answer['question']}'."]
            elif answer["question"] in seen:
                error["question"] = [f"Question '{answer['question']}' is answered twice."]
            elif na and choice is not None:
                error["choice"] = ["Give either a choice or na: true, not both."]
            elif na and not question.allow_na:
                error["na"] = [f"'{question.key}' cannot be answered N/A."]
            elif not na and choice is None:
                error["choice"] = ["A choice score is required unless na is true."]
            elif not na and choice not in {c.score for c in question.choices.all()}:
                offered = sorted(c.score for c in question.choices.all())
                error["choice"] = [
                    f"Score {choice} is not offered for '{question.key}'; choose one of {offered}."
                ]
            errors.append(error)
            if not error:
                seen.add(question.key)
                result.append(
                    services.AnswerInput(
                        question=question, score=choice, na=na, comment=answer.get("comment", "")
                    )
                )
        if any(errors):
            raise serializers.ValidationError(errors)
        return result


class ResponseOutSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    answer_count = serializers.IntegerField(source="answers.count", read_only=True)

    class Meta:
        model = Response
        fields = ["id", "survey", "team", "status", "started_at", "submitted_at", "answer_count"]


def visible_surveys(user: Any) -> QuerySet[Survey]:
    """Surveys a user may see: all for admins, else those including one of their teams."""
    if user.is_staff:
        return Survey.objects.all()
    return Survey.objects.filter(teams__memberships__user=user).distinct()


class SurveyResponsesView(APIView):
    @extend_schema(
        operation_id="survey_responses_create",
        request=ResponseInSerializer,
        responses={201: ResponseOutSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="A replay with the same key returns the first result and writes "
                "nothing.",
            )
        ],
        description="Submit a complete response for a team. Resubmitting replaces the "
        "respondent's earlier response.",
    )
    def post(self, request: Request, survey_id: int) -> ApiResponse:
        survey = get_object_or_404(visible_surveys(request.user), pk=survey_id)
        idempotency_key = request.headers.get("Idempotency-Key") or None
        if idempotency_key is not None and len(idempotency_key) > 255:
            return ApiResponse(
                {"Idempotency-Key": ["At most 255 characters."]}, status=status.HTTP_400_BAD_REQUEST
            )
        if idempotency_key:
            earlier = Response.objects.filter(survey=survey, idempotency_key=idempotency_key)
            earlier = earlier.first()
            if earlier is not None and self._may_replay(request.user, earlier):
                return self._created(earlier, replayed=True)
        serializer = ResponseInSerializer(data=request.data, context={"survey": survey})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        team = data["team"]
        respondent, respondent_key = self._respondent(request, survey, team, data)
        try:
            result = services.response_submit(
                survey=survey,
                team=team,
                respondent=respondent,
                respondent_key=respondent_key,
                answers=data["answers"],
                idempotency_key=idempotency_key,
            )
        except services.SurveyError as error:
            body: dict[str, Any] = {"detail": error.message, "code": error.code}
            if error.code == "incomplete":
                body["missing"] = error.details
            code = status.HTTP_409_CONFLICT if error.code == "closed" else 400
            return ApiResponse(body, status=code)
        return self._created(result.response, replayed=result.replayed)

    @staticmethod
    def _may_replay(user: Any, response: Response) -> bool:
        return user.is_staff or Membership.objects.filter(user=user, team=response.team).exists()

    @staticmethod
    def _created(response: Response, *, replayed: bool) -> ApiResponse:
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return ApiResponse(
            ResponseOutSerializer(response).data, status=status.HTTP_201_CREATED, headers=headers
        )

    @staticmethod
    def _respondent(request: Request, survey: Survey, team: Any, data: dict) -> tuple[Any, str]:
        on_behalf = data.get("respondent")
        if on_behalf:
            if not request.user.is_staff:
                raise serializers.ValidationError(
                    {"respondent": ["Only admins may submit on behalf of others."]}
                )
            if survey.anonymous:
                digest = salted_hmac("surveys.external", f"{survey.pk}:{on_behalf}").hexdigest()
                return None, f"x:{digest[:32]}"
            user = get_user_model().objects.filter(username=on_behalf).first()
            if user is None:
                raise serializers.ValidationError({"respondent": [f"No user '{on_behalf}'."]})
            return user, services.respondent_key_for(user, survey)
        if not services.user_can_answer(request.user, team):
            raise PermissionDenied(f"You are not a member of team '{team.slug}'.")
        user = None if survey.anonymous else request.user
        return user, services.respondent_key_for(request.user, survey)
