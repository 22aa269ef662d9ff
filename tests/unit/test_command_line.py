"""The command line's manners, without AWS: options, help, and one clear line for an AWS-side problem."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from ecs_drain_cli import display, lookup
from ecs_drain_cli.main import main, region, target_properties
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
    # Each command says its own exit codes, not another's.
    assert "would be blocked" in commands.choices["check"].epilog and "would" not in commands.choices["watch"].epilog
    assert "--watch" in commands.choices["start"].epilog and "a preflight failed" in commands.choices["watch"].epilog
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("ecs-drain ")


@pytest.mark.usefixtures("no_aws")
@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_it_reads_the_region_from_the_environment_as_the_aws_cli_does(
    command: list[str], variable: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(variable, "us-east-1")
    assert "no AWS credentials were found" in failed(capsys, *command)  # past the Region, at the credentials


def test_it_prefers_the_option_then_aws_region_then_aws_default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert region(parser().parse_args(["watch", "--stack", "w"])) == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert region(parser().parse_args(["watch", "--stack", "w"])) == "eu-central-1"
    assert region(parser().parse_args(["watch", "--stack", "w", "--region", "us-west-2"])) == "us-west-2"


def test_it_follows_an_execution_by_its_arn_without_looking_for_the_provider_stack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    followed: list[str] = []

    def no_lookup(*_args: object) -> str:
        raise AssertionError("the provider stack was looked up")

    def watch(_console: object, _sfn: object, arn: str, *_args: object) -> int:
        followed.append(arn)
        return 0

    monkeypatch.setattr(lookup, "state_machine_arn", no_lookup)
    monkeypatch.setattr(display, "watch", watch)
    assert main(["--region", "us-east-1", "watch", "--execution-arn", EXECUTION]) == 0
    assert followed == [EXECUTION]


@pytest.mark.usefixtures("no_aws")
@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["watch", "--execution-arn", "nonsense"], "argument --execution-arn: not a Step Functions execution ARN"),
        (["--state-machine-arn", "nonsense", "watch", "--stack", "w"], "not a Step Functions state machine ARN"),
        (["watch", "--stack", "w", "--interval", "-5"], "argument --interval: must be more than 0 seconds"),
        (["watch", "--stack", "w", "--interval", "soon"], "argument --interval: not a number of seconds"),
        (["check", "--cluster", "web", "--instance-ids", "i-1"], "argument --instance-ids: not an EC2 instance id"),
        (["start", "--cluster", "web", "--fleet", "fleet-1", "--timeout", "ten"], "must be a whole number of seconds"),
        (
            ["start", "--cluster", "web", "--fleet", "fleet-1", "--timeout", "-5"],
            "--timeout: must be 0 seconds or more",
        ),
        (["check", "--clster", "web", "--fleet", "fleet-1"], "unknown option --clster; did you mean --cluster?"),
        (["chek", "--cluster", "web", "--fleet", "fleet-1"], "invalid choice: 'chek'"),
        (["watch"], "one of the arguments --stack --execution-arn --auto-scaling-group is required"),
        (["drain"], "argument COMMAND: invalid choice: 'drain'"),
    ],
)
def test_it_refuses_a_bad_value_in_one_line_before_any_aws_call(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and len(err.strip().splitlines()) == 1, err
    assert said in err and "(see ecs-drain" in err, err


@pytest.mark.usefixtures("no_aws")
def test_it_checks_the_properties_before_any_aws_call(capsys: pytest.CaptureFixture[str]) -> None:
    err = failed(capsys, "start", "--cluster", "web", "--fleet", "fleet-1", "--timeout", "5")
    assert "DrainTimeoutSeconds" in err and "Region" not in err


def test_it_takes_instance_ids_as_the_aws_cli_does_or_comma_separated() -> None:
    first, second, third = "i-0123456789abcdef0", "i-0123456789abcdef1", "i-01234567"
    spaced = parser().parse_args(["check", "--cluster", "w", "--instance-ids", first, second, f"{third},"])
    assert target_properties(spaced)["InstanceIds"] == [first, second, third]
    commas = parser().parse_args(["check", "--cluster", "w", "--instance-ids", f"{first},{second}"])
    assert target_properties(commas)["InstanceIds"] == [first, second]


def test_it_takes_the_global_options_anywhere_on_the_line_and_lists_them_in_the_top_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = ["--region", "us-east-1", "--output", "json", "check", "--cluster", "web", "--fleet", "fleet-1"]
    assert parser().parse_args(line).output == "json"
    after = ["check", "--cluster", "web", "--fleet", "fleet-1", "--output", "json", "--debug"]
    assert (parser().parse_args(after).output, parser().parse_args(after).debug) == ("json", True)
    assert parser().parse_args(["watch", "--stack", "w"]).output == "text"
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    assert all(option in top for option in ("--output", "--region", "--profile", "--debug", "--provider-stack"))


def test_it_suggests_the_closest_command_for_a_mistyped_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["chek", "--cluster", "web", "--fleet", "fleet-1"])
    assert "did you mean check?" in capsys.readouterr().err


@pytest.mark.usefixtures("no_aws")
def test_it_writes_an_error_as_a_json_document_on_stdout_under_output_json(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):  # a usage error, found while parsing
        main(["--output", "json", "check", "--clster", "web", "--fleet", "fleet-1"])
    usage = capsys.readouterr()
    assert json.loads(usage.out) == {"error": usage.err.strip(), "exitStatus": 2}
    with pytest.raises(SystemExit):  # one argparse finds (the line given to main, not the process's)
        main(["chek", "--cluster", "web", "--fleet", "fleet-1", "--output", "json"])
    choice = capsys.readouterr()
    assert (
        json.loads(choice.out) == {"error": choice.err.strip(), "exitStatus": 2} and "did you mean check" in choice.out
    )
    spot_fleet = "sfr-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    assert main(["check", "--cluster", "web", "--spot-fleet", spot_fleet, "--output=json"]) == 2  # no Region
    aws = capsys.readouterr()
    document = json.loads(aws.out)
    assert document["exitStatus"] == 2 and document["error"] == aws.err.strip()
    assert "no AWS Region is set" in document["error"]
