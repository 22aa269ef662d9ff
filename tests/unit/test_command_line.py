"""The command line's manners, without AWS: options, help, and one clear line for an AWS-side problem."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ecs_drain_cli.main import main
from ecs_drain_cli.options import parser

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:ecs-drain-drain:web-cluster-ECSDrain-0123456789ab"


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Region, no credentials, no profiles; and never a request to the instance metadata service."""
    for name in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def failed(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(list(args))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and 1 <= len(err.strip().splitlines()) <= 2, err
    return err


COMMANDS = [
    ["watch", "--execution-arn", EXECUTION],
    ["watch", "--stack", "web"],
    ["start", "--cluster", "web", "--spot-fleet", "sfr-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"],
]


@pytest.mark.usefixtures("no_aws")
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_it_says_in_one_line_that_no_region_is_set(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert "no AWS Region is set: give --region" in failed(capsys, *command)


@pytest.mark.usefixtures("no_aws")
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_it_says_in_one_line_that_no_credentials_were_found(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert "no AWS credentials were found" in failed(capsys, *command, "--region", "us-east-1")


@pytest.mark.usefixtures("no_aws")
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_it_says_in_one_line_that_a_profile_does_not_exist(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert "The config profile (nope) could not be found" in failed(capsys, "--profile", "nope", *command)


def test_it_takes_the_aws_options_before_or_after_the_command() -> None:
    after = parser().parse_args(["watch", "--stack", "web", "--region", "us-east-1", "--profile", "p"])
    before = parser().parse_args(["--region", "eu-west-1", "--profile", "q", "watch", "--stack", "web"])
    assert (after.region, after.profile, after.stack) == ("us-east-1", "p", "web")
    assert (before.region, before.profile) == ("eu-west-1", "q")
    assert parser().parse_args(["--region", "eu-west-1", "watch", "--stack", "w", "--region", "us-east-1"]).region == (
        "us-east-1"
    )


def test_it_documents_every_option_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    root = parser()
    commands = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in [("ecs-drain", root), *commands.choices.items()]:
        for action in command._actions:
            if action.dest not in ("help", "command"):
                assert action.help, (name, action.dest)
        assert "exit status:" in (command.epilog or ""), name
        assert "2  a usage, input or AWS error" in (command.epilog or ""), name
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("ecs-drain ")
