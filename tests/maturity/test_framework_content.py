"""The shipped frameworks (mlops.yaml, version 1, and mlops-v2.yaml) are complete and traceable.

The checks every version must pass take ``shipped_spec`` (run once per version); the rules
issue 15 sets for version 2 take ``mlops_v2_spec``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from maturity.evidence.facts import BUILTIN_FACTS, CI_FACTS, DEPENDENCY_FACTS, REPO_FACTS
from maturity.evidence.rules import evaluate, parse_rule, rule_facts
from maturity.schema import LLM_KINDS, TeamProfile, disappeared_keys, replaced_key_problems
from maturity.standards import STANDARDS, standard_coverage

ROOT = Path(__file__).resolve().parents[2]
# The seed text the content derives from, copied into the repo so the check is self-contained.
SEED = ROOT / "maturity" / "frameworks" / "seed" / "ml-devops-practices.txt"
SHARED_SEED = ROOT.parent / "shared" / "seed" / "ml-devops-practices.txt"
SECTIONS = ("Best Practices", "Common Challenges", "Core Responsibilities")
VAGUE = re.compile(r"\b(somewhat|partially|sometimes)\b", re.IGNORECASE)


def seed_headings() -> dict[str, list[str]]:
    """Return the headings of each seed section (the lines between section titles)."""
    lines = SEED.read_text(encoding="utf-8").splitlines()
    titles = {"Best Practices", "Common Challenges", "Core Responsibilities", "Requirements"}
    headings: dict[str, list[str]] = {}
    current = None
    for line in lines:
        if line in titles:
            current = line if line in SECTIONS else None
            headings.setdefault(line, [])
            continue
        if current is None:
            continue
        if current == "Core Responsibilities":
            # Groups are bullets without a verb-first sentence; the seed lists them as "- Name".
            if line.startswith("- ") and not line.endswith(".") and len(line.split()) <= 8:
                if line[2:] in CORE_GROUPS:
                    headings[current].append(line[2:])
        elif not line.startswith("-") and not line.startswith(("A Senior", "Senior ML")):
            headings[current].append(line)
    return headings


CORE_GROUPS = {
    "Leadership and Team Management",
    "Infrastructure Automation and Management",
    "CI/CD Pipeline Management",
    "Cross-Functional Collaboration",
    "Monitoring, Alerting, and Operational Excellence",
    "Technical Guidance and Project Management",
    "Cost Management and Security",
    "Process Improvement and Automation",
}


def test_repo_copy_of_the_seed_matches_the_shared_one():
    if not SHARED_SEED.exists():
        pytest.skip("no ../shared/seed beside this checkout")
    assert SEED.read_bytes() == SHARED_SEED.read_bytes()


def all_refs(spec) -> list[str]:
    return [ref for _, q in spec.questions() for ref in q.seed_refs] + [
        ref for d in spec.dimensions for ref in d.seed_refs
    ]


def test_seed_sections_parse_as_expected():
    headings = seed_headings()
    assert len(headings["Best Practices"]) == 10
    assert len(headings["Common Challenges"]) == 10
    assert "Governance and Access Control" in headings["Common Challenges"]


# Dimensions and questions per version: v2 adds GenAI operations, responsible AI and cost as
# dimensions of their own and the practices the review found missing.
EXPECTED_SHAPE = {1: ((10, 14), (45, 70)), 2: ((14, 18), (60, 90))}


def test_framework_has_the_expected_shape(shipped_spec):
    (min_dims, max_dims), (min_questions, max_questions) = EXPECTED_SHAPE[shipped_spec.version]
    questions = [q for _, q in shipped_spec.questions()]
    assert min_dims <= len(shipped_spec.dimensions) <= max_dims
    assert min_questions <= len(questions) <= max_questions
    assert [(lvl.number, lvl.threshold) for lvl in shipped_spec.levels] == [
        (0, 0),
        (1, 20),
        (2, 40),
        (3, 60),
        (4, 80),
    ]
    assert all(level.name and level.description for level in shipped_spec.levels)


def test_every_question_has_five_concrete_choices_with_next_steps(shipped_spec):
    for _, question in shipped_spec.questions():
        assert [c.score for c in question.choices] == [0, 1, 2, 3, 4], question.key
        for choice in question.choices:
            assert choice.label and choice.description, question.key
            assert not VAGUE.search(choice.label + " " + choice.description), question.key
            if choice.score < 4:
                assert choice.next_step and len(choice.next_step) > 20, question.key
            else:
                assert not choice.next_step, question.key
        assert question.guidance and len(question.guidance) > 60, question.key
        assert question.text.endswith("?"), question.key


def test_na_weights_and_prerequisites_are_used_sparingly(shipped_spec):
    questions = [q for _, q in shipped_spec.questions()]
    na = [q.key for q in questions if q.allow_na]
    assert 1 <= len(na) <= len(questions) // 5
    assert any(q.weight > 1 for q in questions)
    assert 5 <= sum(len(q.requires) for q in questions) <= 40
    automated = next(q for q in questions if q.key == "automated-deployment")
    assert "model-versioning" in automated.requires


def test_every_question_and_dimension_cites_an_existing_seed_heading(shipped_spec):
    headings = seed_headings()
    for ref in all_refs(shipped_spec):
        section, _, rest = ref.partition(" / ")
        heading, _, bullet = rest.partition(": ")
        assert section in SECTIONS, ref
        assert heading in headings[section], ref
        assert bullet, ref
    for dimension, question in shipped_spec.questions():
        assert question.seed_refs, question.key
        assert dimension.seed_refs, dimension.key


def test_every_best_practice_and_common_challenge_is_covered(shipped_spec):
    headings = seed_headings()
    cited = {
        tuple(ref.split(": ", 1)[0].split(" / ", 1))
        for _, q in shipped_spec.questions()
        for ref in q.seed_refs
    }
    for section in ("Best Practices", "Common Challenges"):
        missing = [h for h in headings[section] if (section, h) not in cited]
        assert missing == [], f"{section} headings without a question: {missing}"


def test_operational_responsibilities_are_covered(shipped_spec):
    keys = {q.key for _, q in shipped_spec.questions()}
    text = " ".join((q.text + " " + q.guidance).lower() for _, q in shipped_spec.questions())
    for topic in ("alert", "incident", "restore", "cost", "access"):
        assert topic in text, topic
    assert {"incident-management", "disaster-recovery", "cost-visibility"} <= keys


def test_shipped_framework_loads_into_the_database(mlops_framework, mlops_spec):
    assert mlops_framework.dimensions.count() == len(mlops_spec.dimensions)
    assert mlops_framework.questions.count() == sum(len(d.questions) for d in mlops_spec.dimensions)
    question = mlops_framework.questions.get(key="automated-deployment")
    assert question.choices.count() == 5
    assert question.seed_refs


# --- Version 2 (issue 15): the rules the content of version 2 keeps. Several checks are also
# --- run against version 1 to show that they catch the defects the review found there.

# Words that make a label a grade or a put-down. Respondents see labels without numbers, so a
# label must describe a state, not tell them how good it is (review, section 3.1 item 4).
PEJORATIVE = (
    "thrown over the wall",
    "loudest",
    "tribal",
    "console clicks",
    "big-bang",
    "big bang",
    "notebooks in production",
    "surprise",
    "firefighting",
    "ad hoc",
    "chaos",
    "chaotic",
    "cowboy",
    "hero",
    "mess",
    "wild west",
    "primitive",
    "naive",
)
SELF_GRADES = (
    "elite",
    "world-class",
    "best",
    "excellent",
    "advanced",
    "basic",
    "mature",
    "immature",
    "optimal",
    "optimised",
    "optimized",
    "good",
    "poor",
    "bad",
    "great",
    "perfect",
    "ideal",
    "weak",
    "strong",
    "fully",
    "leading",
)
GRADING = re.compile(
    r"\b(" + "|".join(re.escape(w) for w in PEJORATIVE + SELF_GRADES) + r")\b", re.I
)

# Tools may be named as examples in guidance and next steps, never in what a level requires.
TOOLS = re.compile(
    r"\b(docker|kubernetes|helm|terraform|opentofu|pulumi|cloudformation|mlflow|dvc|lakefs|"
    r"delta lake|iceberg|airflow|kubeflow|sagemaker|vertex|jenkins|github|gitlab|circleci|"
    r"prometheus|grafana|datadog|splunk|evidently|nannyml|great expectations|pandera|feast|"
    r"tecton|vault|pagerduty|opsgenie|codeowners|backstage|jira|openlineage|datahub|keda|"
    r"trivy|snyk|dependabot|checkov|opa|sentinel|cosign|kueue|slurm|argo|flux|optuna|"
    r"opentelemetry|locust|k6|jmeter|git)\b",
    re.I,
)
# Guidance must not point at choices by score: respondents do not see the numbers.
SCORE_REFERENCE = re.compile(r"\b(choose|counts? as|scores?|pick)\s+(a\s+)?\d", re.I)
# A fixed cadence as a level criterion (review, section 3.1 item 3).
FIXED_CADENCE = re.compile(
    r"\b(every|each|once a|twice a)\s+(day|week|month|quarter|year)\b|\b(quarterly|annually)\b",
    re.I,
)
# A sentence boundary inside a `why`: end punctuation, spaces, a capital letter.
SENTENCE_BREAK = re.compile(r"[.!?]\s+[A-Z]")
CITABLE_NAMES = {
    "mlts": ("ML Test Score",),
    "google-mlops": ("Google Cloud",),
    "azure-mlops": ("Microsoft", "Azure"),
    "azure-llmops": ("Microsoft", "Azure"),
    "aws-ml-lens": ("AWS",),
    "aws-genai-lens": ("AWS",),
    "dora": ("DORA",),
    "google-sre": ("SRE",),
    "owasp-llm": ("OWASP",),
    "nist-ai-600-1": ("NIST",),
}
V2_YAML = ROOT / "maturity" / "frameworks" / "mlops-v2.yaml"


def labels(spec) -> list[tuple[str, str]]:
    return [(q.key, c.label) for _, q in spec.questions() for c in q.choices]


def test_citable_names_cover_every_standard():
    assert set(CITABLE_NAMES) == set(STANDARDS)


def test_v2_is_a_published_version_2_of_mlops_with_the_v1_levels(mlops_v2_spec, mlops_spec):
    assert (mlops_v2_spec.slug, mlops_v2_spec.version, mlops_v2_spec.published) == (
        "mlops",
        2,
        True,
    )
    assert [(lvl.number, lvl.name, lvl.threshold) for lvl in mlops_v2_spec.levels] == [
        (lvl.number, lvl.name, lvl.threshold) for lvl in mlops_spec.levels
    ]


def test_v2_header_comment_names_the_seed_by_its_path_in_the_repository():
    header = []
    for line in V2_YAML.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    assert "maturity/frameworks/seed/ml-devops-practices.txt" in "\n".join(header)
    assert (ROOT / "maturity" / "frameworks" / "seed" / "ml-devops-practices.txt").is_file()


def test_every_v2_question_cites_standards_and_says_why_in_one_sourced_sentence(mlops_v2_spec):
    for _, question in mlops_v2_spec.questions():
        assert question.refs, question.key
        why = question.why
        assert why.endswith("."), question.key
        assert not SENTENCE_BREAK.search(why[:-1]), f"{question.key}: more than one sentence"
        names = {name for ref in question.refs for name in CITABLE_NAMES[ref.split(":")[0]]}
        assert any(name in why for name in names), f"{question.key}: why cites none of {names}"


def test_every_v2_choice_above_zero_says_what_evidence_confirms_it(mlops_v2_spec):
    for _, question in mlops_v2_spec.questions():
        for choice in question.choices:
            if choice.score > 0:
                assert len(choice.evidence) > 15, (question.key, choice.score)


def test_no_v2_label_grades_itself_or_names_a_number(mlops_v2_spec):
    offending = [(key, label) for key, label in labels(mlops_v2_spec) if GRADING.search(label)]
    assert offending == []
    assert [(k, label) for k, label in labels(mlops_v2_spec) if re.search(r"\d", label)] == []


def test_the_label_check_catches_the_pejorative_labels_of_v1(mlops_spec):
    flagged = {label for _, label in labels(mlops_spec) if GRADING.search(label)}
    assert {"Thrown over the wall", "Loudest request wins", "Invoice surprise"} <= flagged
    assert "Elite and improving" in flagged


def test_v2_levels_name_no_tools(mlops_v2_spec):
    offending = [
        (q.key, c.score, match.group())
        for _, q in mlops_v2_spec.questions()
        for c in q.choices
        if (match := TOOLS.search(c.label + " " + c.description))
    ]
    assert offending == []


def test_the_tool_check_catches_the_tools_v1_used_as_level_criteria(mlops_spec):
    flagged = {
        q.key for _, q in mlops_spec.questions() for c in q.choices if TOOLS.search(c.description)
    }
    assert {"data-versioning", "model-containerisation", "automated-deployment"} <= flagged


def test_v2_levels_set_no_fixed_cadence(mlops_v2_spec, mlops_spec):
    offending = [
        (q.key, c.score)
        for _, q in mlops_v2_spec.questions()
        for c in q.choices
        if FIXED_CADENCE.search(c.description)
    ]
    assert offending == []
    assert any(
        FIXED_CADENCE.search(c.description) for _, q in mlops_spec.questions() for c in q.choices
    )


def test_v2_guidance_never_points_at_a_choice_by_its_score(mlops_v2_spec, mlops_spec):
    assert [q.key for _, q in mlops_v2_spec.questions() if SCORE_REFERENCE.search(q.guidance)] == []
    # v1's guidance did ("choose 0 or 1"), which made no sense once numbers are hidden.
    flagged_v1 = [q.key for _, q in mlops_spec.questions() if SCORE_REFERENCE.search(q.guidance)]
    assert {"delivery-performance", "shared-ownership"} <= set(flagged_v1)


def test_v2_maps_every_ml_test_score_test(mlops_v2_spec):
    coverage = standard_coverage({q.key: q.refs for _, q in mlops_v2_spec.questions()})
    assert coverage["mlts"]["unmapped"] == []
    assert coverage["mlts"]["mapped"] == 28


def test_v2_keeps_or_replaces_every_v1_question(mlops_v2_spec, mlops_spec):
    v1_keys = {q.key for _, q in mlops_spec.questions()}
    assert disappeared_keys(mlops_v2_spec, v1_keys) == []
    assert replaced_key_problems(mlops_v2_spec, v1_keys) == []


# v1 key -> the v2 question that replaces it (a rename or a split; in a split the v1 key also
# lives on in the question that kept it).
V2_REPLACEMENTS = {
    "ml-devops-training": "skills-strategy",
    "data-storage-consistency": "feature-consistency",
    "progressive-delivery": "rollback",
    "shift-left-security": "threat-modelling",
    "data-access-governance": "privacy-protection",
}


def test_v2_names_each_renamed_or_split_v1_question_in_replaces(mlops_v2_spec, mlops_spec):
    replacing = {old: q.key for _, q in mlops_v2_spec.questions() for old in q.replaces}
    assert replacing == V2_REPLACEMENTS
    v2_keys = {q.key for _, q in mlops_v2_spec.questions()}
    v1_keys = {q.key for _, q in mlops_spec.questions()}
    assert v1_keys - v2_keys == {"ml-devops-training"}  # merged into skills-strategy
    assert len(v1_keys & v2_keys) == 57


# Practices the review found measured by several questions (section 3.1 item 6) and the one
# question of v2 whose levels measure each (a regular expression over level descriptions).
MEASURED_ONCE = {
    "GitOps reconciliation": (r"reconcil", {"source-control"}),
    "online validation by experiment": (r"randomised experiment|A/B", {"ab-testing"}),
    "retraining triggered by monitoring": (r"monitoring signal", {"automated-training-pipeline"}),
    "model cards": (r"\bcards?\b", {"model-documentation"}),
    "data contracts": (r"\bcontracts?\b", {"data-quality-validation"}),
    "dataset version recorded with the model": (r"commit, dataset version", {"model-versioning"}),
    "idle shutdown and scale to zero": (r"shut down|scale to zero", {"cost-optimisation"}),
    "spot capacity": (r"\bspot\b", {"cost-optimisation"}),
    "right-sizing": (r"type and size", {"gpu-utilisation"}),
    "security scanning": (r"\bscan", {"shift-left-security", "vulnerability-management"}),
    "signed artefacts": (r"\bsigned\b", {"shift-left-security"}),
    "unit cost": (r"unit cost", {"cost-visibility"}),
    "canary or shadow rollout": (r"shadow|share of traffic", {"progressive-delivery"}),
}


@pytest.mark.parametrize("practice", sorted(MEASURED_ONCE))
def test_each_practice_the_review_found_repeated_is_measured_by_one_question(
    practice, mlops_v2_spec
):
    pattern, expected = MEASURED_ONCE[practice]
    measuring = {
        q.key
        for _, q in mlops_v2_spec.questions()
        for c in q.choices
        if re.search(pattern, c.description, re.I)
    }
    assert measuring == expected


def test_org_facts_are_asked_once_per_organisation_or_platform(mlops_v2_spec):
    scopes = {q.key: q.scope for _, q in mlops_v2_spec.questions() if q.scope != "team"}
    assert scopes == {
        "skills-strategy": "org",
        "technical-leadership": "org",
        "mlops-adoption": "org",
        "vulnerability-management": "platform",
    }


def test_genai_operations_applies_to_language_model_teams_only(mlops_v2_spec):
    genai = next(d for d in mlops_v2_spec.dimensions if d.key == "genai-operations")
    for question in genai.questions:
        kinds = set(question.applies_when.model_kinds)
        assert kinds and kinds <= set(LLM_KINDS), question.key
    # The seven practices the issue lists, plus agents' permissions.
    assert [q.key for q in genai.questions] == [
        "genai-evaluation-gates",
        "prompt-config-versioning",
        "genai-guardrails",
        "token-budgets",
        "genai-tracing",
        "genai-human-feedback",
        "model-fallback",
        "agent-permissions",
    ]
    llm_team = TeamProfile(serving=["online"], model_kinds=["llm-api"])
    classical_team = TeamProfile(serving=["batch"], model_kinds=["classical"])
    assert all(q.applies_to(llm_team) for q in genai.questions if q.key != "agent-permissions")
    assert not any(q.applies_to(classical_team) for q in genai.questions)


def test_the_classical_practices_the_review_found_missing_have_questions(mlops_v2_spec):
    keys = {q.key for _, q in mlops_v2_spec.questions()}
    assert {
        "explainability-debugging",
        "model-staleness",
        "numerical-stability",
        "offline-online-correlation",
        "feature-value-review",
        "model-roi",
        "human-review",
        "training-sanity-tests",
        "ab-testing",
        "endpoint-authentication",
        "carbon-footprint",
    } <= keys


def test_questions_of_training_teams_do_not_apply_to_a_team_that_only_calls_an_llm_api(
    mlops_v2_spec,
):
    api_only = TeamProfile(serving=["online"], model_kinds=["llm-api"])
    skipped = {q.key for _, q in mlops_v2_spec.questions() if not q.applies_to(api_only)}
    assert {
        "reproducible-training",
        "experiment-tracking",
        "data-versioning",
        "automated-training-pipeline",
        "training-compute-management",
        "model-validation",
    } <= skipped
    batch_only = TeamProfile(serving=["batch"], model_kinds=["classical"])
    skipped = {q.key for _, q in mlops_v2_spec.questions() if not q.applies_to(batch_only)}
    assert {"serving-autoscaling", "load-testing", "high-availability"} <= skipped
    assert "service-architecture" not in skipped  # batch models have interfaces too


def questions_by_key(spec) -> dict:
    return {q.key: q for _, q in spec.questions()}


def test_named_review_defects_are_fixed(mlops_v2_spec):
    q = questions_by_key(mlops_v2_spec)
    # delivery-performance measures how the team measures, with DORA's five measures and an
    # ML definition of a change; no thresholds, no "elite".
    delivery = q["delivery-performance"]
    described = " ".join(c.label + " " + c.description for c in delivery.choices)
    assert not re.search(r"elite|per ?cent|daily|weekly|under a (day|week)", described, re.I)
    for term in ("rework", "prompt", "retrained", "change fail rate"):
        assert term in delivery.guidance, term
    # drift-detection no longer asks about concept drift it cannot measure.
    assert "concept drift" not in q["drift-detection"].text.lower()
    # A scheduled pipeline is continuous training (Google's level 1), not level 2.
    pipeline = q["automated-training-pipeline"].choices
    assert "schedule" in pipeline[3].description and "schedule" not in pipeline[2].description
    # Single-barrelled, neutral question texts.
    assert "deadline" not in q["work-prioritisation"].text
    assert " or " not in q["iterative-delivery"].text
    # The level-0 step of mlops-adoption leads to level 1, not to level 2's agreed criteria.
    adoption = q["mlops-adoption"].choices
    assert "criteria" in adoption[2].description and "criteria" not in adoption[0].next_step
    # Architecture is graded on coupling, not on microservices.
    assert not any(
        "microservice" in c.description.lower() for c in q["service-architecture"].choices
    )
    # Feature store and skew have their own question.
    storage = " ".join(c.description for c in q["data-storage-consistency"].choices).lower()
    assert "skew" not in storage and "feature" not in storage
    assert "skew" in " ".join(c.description for c in q["feature-consistency"].choices).lower()
    # Deployment does not measure the rollout ladder again.
    deployment = " ".join(c.description for c in q["automated-deployment"].choices).lower()
    assert not re.search(r"canary|shadow|share of traffic|rolled back", deployment)


def test_the_v2_note_answers_every_review_row_and_lists_every_v2_question(
    mlops_spec, mlops_v2_spec
):
    note = (ROOT / "docs" / "framework-v2.md").read_text(encoding="utf-8")
    review_rows = re.findall(r"^\| (\d+) \| ([a-z0-9-]+) \|", note, re.M)
    assert [int(number) for number, _ in review_rows] == list(range(1, 59))
    assert [key for _, key in review_rows] == [q.key for _, q in mlops_spec.questions()]
    listed = re.findall(r"^\| `([a-z0-9-]+)` \| (team|platform|org) \|", note, re.M)
    assert [key for key, _ in listed] == [q.key for _, q in mlops_v2_spec.questions()]
    assert dict(listed) == {q.key: q.scope for _, q in mlops_v2_spec.questions()}


# --- Evidence checks of v2 (issue 16): rules over the facts a repository snapshot yields.


def v2_checks(spec) -> list[tuple[str, object]]:
    return [(q.key, check) for _, q in spec.questions() for check in q.checks]


def test_v2_has_checks_on_at_least_twenty_questions_naming_only_catalogued_facts(mlops_v2_spec):
    with_checks = [q.key for _, q in mlops_v2_spec.questions() if q.checks]
    assert len(with_checks) >= 20
    named = {
        name for _, check in v2_checks(mlops_v2_spec) for name in rule_facts(parse_rule(check.rule))
    }
    assert named <= set(BUILTIN_FACTS)
    # The checks use every family of facts the built-in collectors produce.
    assert {name.split(".")[0] for name in named} >= {"repo", "ci", "deps", "dora", "scorecard"}


def snapshot_facts(**overrides: object) -> dict[str, object]:
    """Return the facts of an empty snapshot (empty lists, false; no run history or Scorecard)."""
    facts: dict[str, object] = {}
    for name, spec in {**REPO_FACTS, **CI_FACTS, **DEPENDENCY_FACTS}.items():
        facts[name] = {"list[str]": [], "bool": False}.get(spec.type)
    return {name: value for name, value in (facts | overrides).items() if value is not None}


def failing_contradictions(spec, facts: dict[str, object]) -> set[str]:
    return {
        f"{key}/{check.id}"
        for key, check in v2_checks(spec)
        if check.contradicts is not None and evaluate(check.rule, facts).passed is False
    }


def test_v2_contradicts_only_what_a_snapshot_can_show_is_missing(mlops_v2_spec):
    # A repository whose CI is neither GitHub Actions nor GitLab CI (say Jenkins), without
    # a run history or Scorecard result: the ci collector leaves the job facts out, so only
    # the missing test files contradict an answer.
    no_read_ci = {
        k: v for k, v in snapshot_facts().items() if k == "ci.providers" or not k.startswith("ci.")
    }
    assert failing_contradictions(mlops_v2_spec, no_read_ci) == {"code-testing/tests-present"}
    # Readable CI that only runs tests: no scanner and no lint job contradict those levels.
    github = snapshot_facts(
        **{
            "ci.providers": ["github-actions"],
            "ci.jobs": [".github/workflows/ci.yml:test"],
            "ci.test_jobs": [".github/workflows/ci.yml:test"],
            "repo.test_files": ["tests/test_model.py"],
            "deps.pinned_ratio": 0.2,
            "scorecard.code_review": 0.0,
        }
    )
    assert failing_contradictions(mlops_v2_spec, github) == {
        "shift-left-security/scans-in-ci",
        "code-review/lint-in-ci",
        "code-review/most-changes-reviewed",
        "code-review/some-changes-reviewed",
        "dev-environments/dependencies-mostly-pinned",
    }


def test_v2_checks_support_the_levels_a_typical_ml_repository_shows(mlops_v2_spec):
    facts = snapshot_facts(
        **{
            "repo.paths": ["Dockerfile", "dvc.yaml", "src/train.py", "tests/test_train.py"],
            "repo.dockerfiles": ["Dockerfile"],
            "repo.dvc": True,
            "repo.test_files": ["tests/test_train.py"],
            "repo.lockfiles": ["uv.lock"],
            "ci.providers": ["github-actions"],
            "ci.test_jobs": [".github/workflows/ci.yml:test"],
            "ci.container_builds": [".github/workflows/ci.yml:image"],
            "ci.scheduled_training": [".github/workflows/retrain.yml:train"],
            "deps.experiment_tracking": ["mlflow"],
            "deps.packages": ["mlflow", "prometheus-client", "torch"],
        }
    )
    passing = {
        f"{key}/{check.id}": check.supports
        for key, check in v2_checks(mlops_v2_spec)
        if check.supports is not None and evaluate(check.rule, facts).passed is True
    }
    assert passing == {
        "data-versioning/data-versioning-tool": 2,
        "experiment-tracking/tracking-library": 2,
        "dev-environments/dependencies-pinned": 1,
        "reproducible-training/one-command-pipeline": 2,
        "model-containerisation/packaging-defined": 1,
        "model-containerisation/image-built-in-ci": 2,
        "code-testing/tests-present": 1,
        "automated-training-pipeline/orchestrated-pipeline": 2,
        "automated-training-pipeline/scheduled-training": 3,
        "service-monitoring/service-instrumented": 2,
    }


def test_a_team_on_a_ci_the_collectors_do_not_read_is_never_contradicted_on_ci_jobs(
    mlops_v2_spec,
):
    """Regression (issue 16 QA): ci.providers names Jenkins too, whose jobs are not read; a
    Jenkins team running pytest, trivy and ruff was contradicted three times. Without a CI
    whose jobs are read the collector leaves the job facts out, so the "in CI" checks are
    unknown there, and they fail only on a read CI that lacks the job."""
    from maturity.evidence.rules import evaluate

    jenkins = {"ci.providers": ["jenkins"], "repo.pre_commit": False}  # what ci collects
    github = {
        "ci.providers": ["github-actions", "jenkins"],
        "ci.test_jobs": [],
        "ci.security_scans": [],
        "ci.lint_jobs": [],
        "repo.pre_commit": False,
    }
    guarded = {
        check.id: check
        for _, question in mlops_v2_spec.questions()
        for check in question.checks
        if check.id in {"tests-in-ci", "scans-in-ci", "lint-in-ci"}
    }
    assert len(guarded) == 3
    for check in guarded.values():
        assert evaluate(check.rule, jenkins).passed is None, check.id
        assert evaluate(check.rule, github).passed is False, check.id
