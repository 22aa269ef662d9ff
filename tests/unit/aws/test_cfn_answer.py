from __future__ import annotations

import json
from typing import Any

import pytest

from ecs_drain.aws import cfn_answer

REQUEST = cfn_answer.RequestIdentity(
    "arn:aws:cloudformation:us-east-1:123456789012:stack/web/1", "r", "ECSDrain", "ecs-drain:web:SpotFleet:sfr-1"
)


def fields(reason: str) -> dict[str, Any]:
    return {"request": REQUEST, "status": "FAILED", "reason": reason}


@pytest.mark.parametrize("reason", ["x" * 10_000, "é" * 5_000, "🙂" * 3_000])
def test_it_keeps_the_body_within_4096_bytes(reason: str) -> None:
    body = cfn_answer.body(**fields(reason))
    assert len(body) <= cfn_answer.MAX_BODY_BYTES
    decoded = json.loads(body)
    assert decoded["Reason"].endswith("[truncated]")
    assert decoded["Status"] == "FAILED"


def test_it_leaves_a_short_reason_whole() -> None:
    assert json.loads(cfn_answer.body(**fields("Drained 3 instances.")))["Reason"] == "Drained 3 instances."


@pytest.mark.parametrize("url", ["http://example.com/answer", "file:///etc/passwd", "ftp://x/y"])
def test_it_refuses_a_response_url_that_is_not_https_before_any_request(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*_: object, **__: object) -> None:
        raise AssertionError("a request was made")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    with pytest.raises(cfn_answer.InsecureResponseUrl):
        cfn_answer.put(url, b"{}")


def test_it_names_the_parameter_after_the_execution() -> None:
    assert cfn_answer.response_parameter_name("/ecs-drain/s/responses/", "n") == "/ecs-drain/s/responses/n"
