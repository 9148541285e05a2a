"""The YAML guard of snapshot readers: anchors and merge keys load, expansion bombs do not."""

from __future__ import annotations

import pytest

from maturity.evidence.reader import (
    MAX_YAML_EXPANDED_NODES,
    UnreadableFile,
    load_yaml,
    yaml_problem,
)

GITLAB_CI = """\
.defaults: &defaults
  image: python:3.12
  tags: [docker]
  before_script:
    - pip install -r requirements.txt

stages: [test, deploy]

unit:
  <<: *defaults
  stage: test
  script: [pytest]

deploy:
  <<: *defaults
  stage: deploy
  script:
    - !reference [.defaults, before_script]
    - ./deploy.sh
"""

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _aliased(items: int, aliases: int) -> str:
    """A document of 4 + (aliases + 1) * (items + 1) nodes once its aliases are expanded."""
    anchored = ", ".join(["x"] * items)
    return f"a: &a [{anchored}]\nb: [{', '.join(['*a'] * aliases)}]\n"


def test_gitlab_anchors_merge_keys_and_references_load():
    assert yaml_problem(GITLAB_CI) is None
    loaded = load_yaml(GITLAB_CI, ".gitlab-ci.yml")
    assert loaded["unit"]["image"] == "python:3.12"
    assert loaded["deploy"]["tags"] == ["docker"]
    assert loaded["deploy"]["script"][0] == [".defaults", "before_script"]


def test_a_merge_key_in_hundreds_of_jobs_is_accepted():
    jobs = "".join(f"job{n}:\n  <<: *defaults\n  script: [make {n}]\n" for n in range(600))
    text = ".defaults: &defaults\n  image: python\n  tags: [docker, linux]\n" + jobs
    assert yaml_problem(text) is None
    assert load_yaml(text)["job599"]["tags"] == ["docker", "linux"]


def test_billion_laughs_is_refused_by_the_expansion_budget():
    problem = yaml_problem(BILLION_LAUGHS)
    assert problem is not None
    assert str(MAX_YAML_EXPANDED_NODES) in problem and "billion laughs" in problem
    with pytest.raises(UnreadableFile, match="billion laughs"):
        load_yaml(BILLION_LAUGHS, "bomb.yml")


def test_the_budget_counts_expanded_nodes_exactly():
    items = 999  # (aliases + 1) * 1000 + 4 nodes
    assert (199 * 1000 + 4) <= MAX_YAML_EXPANDED_NODES < (200 * 1000 + 4)
    assert yaml_problem(_aliased(items, 198)) is None
    assert "billion laughs" in (yaml_problem(_aliased(items, 199)) or "")


def test_the_budget_is_shared_by_all_documents_of_a_file():
    half = _aliased(999, 120)  # 121,004 nodes each
    assert yaml_problem(half) is None
    assert "billion laughs" in (yaml_problem(half + "---\n" + half) or "")


def test_a_recursive_alias_is_refused():
    assert "recursive alias" in (yaml_problem("a: &a [1, *a]\n") or "")
    assert "recursive alias" in (yaml_problem("a: &a {b: {c: *a}}\n") or "")


def test_hostile_only_keeps_text_that_merely_does_not_parse():
    broken = "jobs:\n  build: 'unclosed\n"
    assert (yaml_problem(broken) or "").startswith("not valid YAML")
    assert yaml_problem(broken, hostile_only=True) is None
    assert yaml_problem("x: !!python/object:os.system {}\n", hostile_only=True) == (
        "the tag !!python/object:os.system is not allowed"
    )
    assert "billion laughs" in (yaml_problem(BILLION_LAUGHS, hostile_only=True) or "")
