from __future__ import annotations

from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = "Surveys"

    def ready(self) -> None:
        # Who changed which survey, team, membership, invitation, target or team profile,
        # and how: visible under "Log entries" in the admin.
        from auditlog.registry import auditlog

        from surveys.models import (
            DimensionTarget,
            Invitation,
            Membership,
            Survey,
            Team,
            TeamProfile,
        )

        for model in (Survey, Team, Membership, Invitation, DimensionTarget, TeamProfile):
            if not auditlog.contains(model):
                auditlog.register(model, exclude_fields=["token_hash", "invitee_key"])

        # The settings checks, and single sign-on's groups -> team memberships at every
        # sign-in (accounts.oidc).
        from accounts.oidc import signed_in_with_sso
        from surveys import checks, services  # noqa: F401 - checks registers itself

        signed_in_with_sso.connect(services.sso_signed_in, dispatch_uid="surveys.sso")
