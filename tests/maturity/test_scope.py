"""Which questions each team of a round answers (maturity.scope): scope and profile."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from maturity.schema import TeamProfile
from maturity.scope import QuestionRule, plan_round, round_parents

TEAM_Q = QuestionRule(1)
PLATFORM_Q = QuestionRule(2, scope="platform")
ORG_Q = QuestionRule(3, scope="org")
LLM_Q = QuestionRule(4, applies_when={"model_kinds": ["llm-api", "agents"]})
ONLINE_PLATFORM_Q = QuestionRule(5, scope="platform", applies_when={"serving": ["online"]})
RULES = [TEAM_Q, PLATFORM_Q, ORG_Q, LLM_Q, ONLINE_PLATFORM_Q]

# org (1) -> platform (2) -> product teams 3 and 4; 5 stands alone.
PARENTS = {1: None, 2: 1, 3: 2, 4: 2, 5: None}


def test_a_team_alone_answers_every_scope():
    plans = plan_round(RULES, {5: None}, {})
    assert plans[5].asked == {1, 2, 3, 4, 5}
    assert plans[5].inherited == {}
    assert plans[5].out_of_scope == frozenset()


def test_product_teams_inherit_platform_answers_from_their_parent_and_org_from_the_root():
    plans = plan_round(RULES, PARENTS, {})
    assert plans[3].asked == {1, 4}
    assert plans[3].inherited == {2: 2, 3: 1, 5: 2}
    assert plans[2].asked == {1, 2, 4, 5}
    assert plans[2].inherited == {3: 1}
    assert plans[1].asked == {1, 2, 3, 4, 5}


def test_a_profile_puts_questions_out_of_scope_only_where_the_team_would_answer_them():
    batch_classical = TeamProfile(serving=["batch"], model_kinds=["classical"])
    plans = plan_round(RULES, PARENTS, {3: batch_classical, 2: batch_classical})
    assert plans[3].asked == {1}
    assert plans[3].out_of_scope == {4}  # the platform question is not the team's to answer
    assert 5 not in plans[3].inherited  # ...and does not apply to it either
    assert plans[2].out_of_scope == {4, 5}


def test_an_llm_team_is_asked_the_llm_question():
    plans = plan_round(RULES, {5: None}, {5: TeamProfile(model_kinds=["agents"])})
    assert 4 in plans[5].asked


def test_a_cycle_of_round_teams_is_broken_at_its_lowest_id():
    """Found by the property test below: with {1: 0, 0: 1} each team's root was the other,
    so nobody was asked an org question."""
    parents = round_parents({0: 1, 1: 0, 2: 1}, [0, 1, 2])
    assert parents == {0: None, 1: 0, 2: 1}
    plans = plan_round([ORG_Q], parents, {})
    assert plans[0].asked == {3} and plans[1].inherited == {3: 0}


def test_round_parents_skip_teams_outside_the_round_and_stop_at_cycles():
    parent_of = {10: 11, 11: 12, 12: None, 20: 21, 21: 20}
    assert round_parents(parent_of, [10, 12, 20]) == {10: 12, 12: None, 20: None}


@given(
    st.dictionaries(
        st.integers(0, 12), st.one_of(st.none(), st.integers(0, 12)), min_size=1, max_size=12
    ),
    st.lists(st.sampled_from(["team", "platform", "org"]), min_size=1, max_size=6),
)
def test_every_question_is_answered_by_exactly_one_team_in_each_chain(parent_of, scopes):
    parents = round_parents(parent_of, parent_of.keys())
    rules = [QuestionRule(i, scope=scope) for i, scope in enumerate(scopes)]
    plans = plan_round(rules, parents, {})
    for plan in plans.values():
        assert plan.asked.isdisjoint(plan.inherited)
        assert plan.asked | set(plan.inherited) == set(range(len(scopes)))
        for question, answerer in plan.inherited.items():
            assert question in plans[answerer].asked
