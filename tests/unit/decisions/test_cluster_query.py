"""The cluster query language, pinned: every example of ECS's "Cluster query language" and "Task placement
constraints" pages, the forms found in public templates, and the undocumented points read both ways. Each verdict
was worked out by hand against the instance below."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecs_drain.decisions.cluster_query import (
    Not,
    QueryError,
    judge,
    parse,
)
from ecs_drain.model.container_instance import InstanceFacts

M5 = InstanceFacts(
    "c-m5",
    attributes={
        "ecs.instance-type": "m5.large",
        "ecs.availability-zone": "us-east-1a",
        "ecs.cpu-architecture": "x86_64",
        "ecs.os-type": "linux",
        "ecs.ami-id": "ami-0123",
        "stack": "prod",
        "asg": "primary",
        "ecs.capability.secrets.asm.environment-variables": None,
    },
    ec2_instance_id="i-abcd1234",
    agent_connected=True,
    agent_version="1.40.0",
    registered_at=1529360908.0,  # 2018-06-18T22:28:28Z
    running_tasks_count=1,
    task_groups=frozenset({"service:production", "family:batch"}),
)

CONFORMANCE: list[tuple[str, bool | None]] = [
    # ECS developer guide, cluster query language and task placement constraints, verbatim
    ("attribute:ecs.instance-type == t2.small", False),
    ("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", True),
    ("attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d", False),
    ("task:group == service:production", True),
    ("not(task:group == database)", True),
    ("runningTasksCount == 1", True),
    ("agentVersion < 1.14.5", False),
    ("registeredAt < 2018-02-13", False),
    ("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", True),
    ("attribute:ecs.instance-type =~ t2.*", False),
    # forms found in public templates
    ("attribute:ecs.instance-type =~ m5.*", True),
    ("attribute:ecs.instance-type =~ p.*", False),
    ("attribute:ecs.cpu-architecture == arm64", False),
    ("attribute:ecs.availability-zone in [us-east-2a, us-east-2b]", False),
    ("attribute:asg == primary", True),
    ("attribute:ecs.os-family == WINDOWS_SERVER_2019_FULL", False),
    ("task:group == service:openmetrics-collector", False),
    # every operator spelling
    ("attribute:stack equals prod", True),
    ("attribute:stack != prod", False),
    ("attribute:stack not_equals staging", True),
    ("attribute:stack exists", True),
    ("attribute:tier exists", False),
    ("attribute:tier !exists", True),
    ("attribute:stack not_exists", False),
    ("attribute:ecs.capability.secrets.asm.environment-variables exists", True),
    ("attribute:ecs.availability-zone not_in [us-east-1a]", False),
    ("attribute:ecs.availability-zone !in ['us-east-1c', \"us-east-1d\"]", True),
    ("attribute:ecs.instance-type matches m5\\..*", True),
    ("attribute:ecs.instance-type !~ c5.*", True),
    ("attribute:ecs.instance-type not_matches (m5|c5)\\.large", False),
    ("agentVersion >= 1.40.0", True),
    ("agentVersion greater_than 1.9.0", True),
    ("agentVersion less_than_equal 1.40.0", True),
    ("runningTasksCount > 0", True),
    ("runningTasksCount greater_than_equal 2", False),
    ("runningTasksCount less_than 5", True),
    ("registeredAt >= 2018-06-18T22:28:28+00:00", True),
    ("registeredAt > 2018-06-18T22:28:28Z", False),
    ("registeredAt <= 2018-06-18T22:28:28", True),
    ("agentConnected == true", True),
    ("agentConnected != true", False),
    ("ec2InstanceId == i-abcd1234", True),
    ("ec2InstanceId =~ i-abcd.*", True),
    ("task:group in [service:production, service:web]", True),
    ("task:group =~ family:.*", True),
    ("task:group exists", True),
    # boolean forms, precedence and parentheses
    ("attribute:stack == prod && attribute:asg == primary", True),
    ("attribute:stack == staging || attribute:asg == primary", True),
    ("attribute:stack == staging or attribute:asg == primary and attribute:tier exists", False),
    ("(attribute:stack == staging or attribute:asg == primary) and attribute:stack exists", True),
    ("!(attribute:stack == staging)", True),
    ("not attribute:stack == staging", True),
    ("NOT (attribute:stack == prod) AND attribute:asg == primary", False),
    ("attribute:stack==prod", True),
    ("attribute:tier == web", False),  # an absent attribute equals nothing
    ("attribute:tier != web", True),  # ... so it is not equal
    # the undocumented points: where the readings differ, no verdict
    ("attribute:ecs.instance-type =~ m5", None),  # a part of the value matches, the whole does not
    ("attribute:ecs.instance-type =~ large", None),
    ("attribute:ecs.instance-type =~ M5.*", None),  # only a case-insensitive match
    ("attribute:stack == PROD", None),
    ("attribute:stack == PROD or attribute:asg == primary", True),  # the other side decides
    ("attribute:ecs.instance-type =~ \\p{Alpha}+", None),  # Java syntax Python does not read
    ("attribute:stack > 5", None),  # ordering on a word
]


@pytest.mark.parametrize(("expression", "verdict"), CONFORMANCE)
def test_it_judges_each_expression_as_worked_out_by_hand(expression: str, verdict: bool | None) -> None:
    assert judge(parse(expression), M5) is verdict


def test_it_pins_at_least_forty_expressions() -> None:
    assert len(CONFORMANCE) >= 40


def test_it_says_a_fact_it_was_not_given_cannot_be_judged() -> None:
    unknown = InstanceFacts("c-x", attributes={"stack": "prod"})
    assert judge(parse("task:group == service:web"), unknown) is None
    assert judge(parse("agentVersion >= 1.40.0"), unknown) is None
    assert judge(parse("task:group == service:web or attribute:stack == prod"), unknown) is True
    assert judge(parse("task:group == service:web and attribute:stack == dev"), unknown) is False


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "ends where a comparison"),
        ("attribute: == x", "without a name"),
        ("colour == red", "unknown subject"),
        ("attribute:x ~= y", "unknown operator"),
        ("attribute:x in [a, b", "never closed"),
        ("(attribute:x == y", "never closed"),
        ("attribute:x == 'y", "never closed"),
        ("attribute:x ==", "value is missing"),
        ("attribute:x == y z", "unexpected"),
        ("attribute:x == y" + " or attribute:x == y" * 120, "longer than 2000"),
        ("(" * 60 + "attribute:x == y" + ")" * 60, "nested more than"),
    ],
)
def test_it_says_why_a_text_is_not_an_expression(text: str, said: str) -> None:
    with pytest.raises(QueryError, match=said):
        parse(text)


_PIECES = st.sampled_from(
    [
        "attribute:stack",
        "attribute:ecs.instance-type",
        "attribute:tier",
        "task:group",
        "agentVersion",
        "runningTasksCount",
        "registeredAt",
        "ec2InstanceId",
        "==",
        "!=",
        "=~",
        "!~",
        "in",
        "!in",
        "exists",
        "!exists",
        ">",
        "<=",
        "and",
        "or",
        "not",
        "!",
        "&&",
        "||",
        "(",
        ")",
        "[",
        "]",
        ",",
        "'",
        "prod",
        "m5.*",
        "1.40.0",
        "2018-02-13",
        "service:production",
        "(m5|c5)",
        "[a-z]+",
        "\\p{Alpha}",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(_PIECES, max_size=14).map(" ".join)))
def test_it_never_raises_anything_but_a_query_error(text: str) -> None:
    try:
        tree = parse(text)
    except QueryError:
        return
    judge(tree, M5)


_VALID = st.lists(st.sampled_from([e for e, _ in CONFORMANCE]), min_size=1, max_size=3).flatmap(
    lambda parts: st.sampled_from([" and ", " or "]).map(lambda joint: joint.join(f"({p})" for p in parts))
)


@settings(max_examples=300, deadline=None)
@given(_VALID)
def test_it_always_judges_not_e_as_the_opposite_of_e(text: str) -> None:
    tree = parse(text)
    verdict = judge(tree, M5)
    opposite = judge(Not(tree), M5)
    assert opposite is (None if verdict is None else not verdict)
    assert judge(parse(f"not({text})"), M5) is opposite
