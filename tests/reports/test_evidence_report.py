"""The evidence in the team report's PDF, read back with pdftotext, and text from a
repository escaped in the page (issue 16)."""

from __future__ import annotations

import pytest

from maturity.models import Question
from reports import services
from reports.models import TeamScore
from tests.evidence_repository import (
    CONFIRMED,
    CONTRADICTED,
    CONTRADICTING_REPOSITORY,
    HOSTILE_SOURCE,
    SCRIPT,
    SCRIPT_DOCKERFILE,
    answer_everything,
    store_evidence,
)
from tests.pdf import pdf_text
from tests.reports.test_reports import report_urls

pytestmark = pytest.mark.django_db


def test_the_pdf_has_the_evidence_summary_and_the_verdicts_with_their_facts(
    client, evidenced, team, manager
):
    client.force_login(manager)
    response = client.get(report_urls(evidenced, team)[1])
    assert response["Content-Type"] == "application/pdf"
    # Table cells wrap inside the PDF: compare with runs of whitespace made one space.
    text = " ".join(pdf_text(response.content).split())

    stored = TeamScore.objects.get(survey=evidenced, team=team)
    assert stored.evidence_confirmed >= 1 and stored.evidence_contradicted >= 1
    assert "Self-assessment vs evidence" in text
    assert (
        f"Of {stored.evidence_checked} answered questions with automated checks, the evidence"
        f" confirms {stored.evidence_confirmed}"
    ) in text
    assert f"contradicts {stored.evidence_contradicted}" in text
    assert "Evidence from model-repo" in text

    contradicted = Question.objects.get(framework=evidenced.framework, key=CONTRADICTED)
    confirmed = Question.objects.get(framework=evidenced.framework, key=CONFIRMED)
    # Contradicted rows first, each with the facts behind its verdict.
    evidence = text[text.index("Self-assessment vs evidence") : text.index("Dimensions")]
    assert evidence.index(contradicted.text) < evidence.index(confirmed.text)
    assert "✗ contradicted" in evidence and "✓ confirmed" in evidence
    # pdftotext breaks lines inside words (and drops a hyphen at a break): compare without
    # any whitespace, and no hyphenated word.
    compact = "".join(evidence.split())
    assert (
        "TestsruninCI(GitHubActionsorGitLabCI,whentherepositoryhasthem):ci.test_jobsisempty(model-repo,0daysold)"
        in compact
    )
    # The file name is text in the PDF too, as the repository named it.
    assert "repo.dockerfileshas1entry:" + SCRIPT_DOCKERFILE in compact
    # The confirmed answer (2) rests on the check of level 2, the image built in CI.
    assert "CIbuildstheimage,anddependenciesarepinned:ci.container_buildshas1entry" in compact


def test_text_from_a_repository_is_escaped_in_the_team_report(client, evidenced, team, manager):
    store_evidence(team, {"README.md": "# other\n"}, source=HOSTILE_SOURCE)
    client.force_login(manager)
    page = client.get(report_urls(evidenced, team)[0]).content.decode()
    section = page[page.index('id="evidence"') : page.index('id="dims-h"')]
    # a check's details (a file name) and a repository name, as text
    assert "deploy/&lt;script&gt;alert(1)&lt;/script&gt;.dockerfile" in section
    assert "<strong>&lt;img src=x onerror=alert(2)&gt;</strong>" in section
    assert SCRIPT not in page
    assert HOSTILE_SOURCE not in page


def test_a_round_whose_framework_has_no_checks_has_no_evidence_section(
    client, survey, team, manager
):
    """A team with evidence, in a round of framework v1 (no checks): nothing to set beside
    its answers, so no "0 answered questions with automated checks" and an empty table."""
    answer_everything(survey, team, 2)
    store_evidence(team, CONTRADICTING_REPOSITORY, source="model-repo")
    services.aggregate(survey=survey)
    client.force_login(manager)
    page = client.get(report_urls(survey, team)[0]).content.decode()
    assert 'data-testid="overall-score"' in page
    assert "Self-assessment vs evidence" not in page
    assert "Self-assessment vs evidence" not in pdf_text(
        client.get(report_urls(survey, team)[1]).content
    )
