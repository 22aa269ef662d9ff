"""The CloudFormation answer: where the ResponseURL is kept, the body, and the bounded PUT.

The ResponseURL lets whoever holds it answer in the drain's place, so it never enters the execution's input,
output or history, nor a log line: it waits in an SSM SecureString parameter that only the answering
function can read, and is deleted once the answer is delivered.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ..runtime import clock
from ..runtime.environment import Environment

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

MAX_BODY_BYTES = 4096
# Where the ResponseURLs are kept: template.yaml writes this pattern in the environment and the IAM policies (a test
# holds them to it); the default is the provider stack of samconfig.toml's name.
PARAMETER_PREFIX_PATTERN = "/ecs-drain/${AWS::StackName}/responses/"
DEFAULT_PARAMETER_PREFIX = PARAMETER_PREFIX_PATTERN.replace("${AWS::StackName}", "ecs-drain")
# Bounded: 5 tries over about 15 s, each with a 10 s timeout.
PUT_ATTEMPTS = 5
PUT_TIMEOUT_SECONDS = 10
PUT_BACKOFF_SECONDS = 1.0


class AnswerError(Exception):
    """The answer could not be delivered."""


class InsecureResponseUrl(AnswerError):
    """The ResponseURL is not https: nothing is sent to it."""


class AnswerRejected(AnswerError):
    """The ResponseURL refused the answer (4xx): retrying would not help."""


@dataclass(frozen=True)
class RequestIdentity:
    """What an answer repeats of the request it answers (with the PhysicalResourceId the answer gives)."""

    stack_id: str
    request_id: str
    logical_resource_id: str
    physical_resource_id: str

    @classmethod
    def of_event(cls, event: Mapping[str, Any], physical_resource_id: str | None = None) -> RequestIdentity:
        """From a request as CloudFormation sends it (fields it lacks are empty: such a request is answered too)."""
        return cls(
            stack_id=str(event.get("StackId", "")),
            request_id=str(event.get("RequestId", "")),
            logical_resource_id=str(event.get("LogicalResourceId", "")),
            physical_resource_id=physical_resource_id or str(event.get("PhysicalResourceId") or ""),
        )


@dataclass(frozen=True)
class CloudFormationRequest(RequestIdentity):
    """A request a drain answers later: its identity, and where its ResponseURL is kept (never the URL itself)."""

    response_parameter: str
    # A preflight's: the id a SUCCESS answer gives (the replacement's); a FAILED one keeps the request's, so that
    # CloudFormation rolls back rather than taking the answer as a replacement.
    new_physical_resource_id: str = ""

    def to_json(self) -> dict[str, str]:
        data = {
            "StackId": self.stack_id,
            "RequestId": self.request_id,
            "LogicalResourceId": self.logical_resource_id,
            "PhysicalResourceId": self.physical_resource_id,
            "ResponseParameter": self.response_parameter,
        }
        if self.new_physical_resource_id:
            data["NewPhysicalResourceId"] = self.new_physical_resource_id
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CloudFormationRequest:
        return cls(
            stack_id=data["StackId"],
            request_id=data["RequestId"],
            logical_resource_id=data["LogicalResourceId"],
            physical_resource_id=data["PhysicalResourceId"],
            response_parameter=data["ResponseParameter"],
            new_physical_resource_id=data.get("NewPhysicalResourceId", ""),
        )


def response_parameter_name(prefix: str, execution_name: str) -> str:
    return prefix.rstrip("/") + "/" + execution_name


def keep_response_url(ssm: SSMClient, name: str, url: str) -> None:
    ssm.put_parameter(
        Name=name,
        Value=url,
        Type="SecureString",
        Overwrite=True,
        Description="ecs-drain: where to answer CloudFormation; deleted once answered",
    )


def response_url(ssm: SSMClient, name: str) -> str | None:
    """The kept ResponseURL, or None when the request was answered already."""
    try:
        return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None


def forget_response_url(ssm: SSMClient, name: str) -> None:
    with contextlib.suppress(ssm.exceptions.ParameterNotFound):
        ssm.delete_parameter(Name=name)


def body(request: RequestIdentity, status: str, reason: str, data: dict[str, Any] | None = None) -> bytes:
    """The answer, with the Reason shortened so the whole body fits CloudFormation's 4096 bytes."""
    answer: dict[str, Any] = {
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": request.physical_resource_id[:1024],
        "StackId": request.stack_id,
        "RequestId": request.request_id,
        "LogicalResourceId": request.logical_resource_id,
        "NoEcho": False,
        "Data": data or {},
    }
    encoded = json.dumps(answer).encode()
    if len(encoded) > MAX_BODY_BYTES:
        answer["Data"] = {}
        overflow = len(json.dumps(answer).encode()) - MAX_BODY_BYTES
        if overflow > 0:
            answer["Reason"] = reason[: max(0, len(reason) - overflow - 16)] + " [truncated]"
        encoded = json.dumps(answer).encode()
        while len(encoded) > MAX_BODY_BYTES:  # multi-byte characters: trim until it fits
            answer["Reason"] = answer["Reason"][:-64] + " [truncated]"
            encoded = json.dumps(answer).encode()
    return encoded


def send(url: str, request: RequestIdentity, status: str, reason: str, data: dict[str, Any] | None = None) -> int:
    """Build the answer and deliver it; the one way this project answers CloudFormation."""
    return put(url, body(request, status, reason, data))


def is_https(url: str) -> bool:
    return urlparse(url).scheme == "https"


def put(url: str, payload: bytes) -> int:
    """PUT the answer: https only, retried on 5xx and network errors, bounded in tries and time."""
    if not is_https(url):
        raise InsecureResponseUrl("The ResponseURL is not https; no answer was sent to it.")
    context = ssl.create_default_context(cafile=Environment.read().ca_bundle)
    last_error = ""
    for attempt in range(1, PUT_ATTEMPTS + 1):
        request = urllib.request.Request(url, data=payload, method="PUT", headers={"Content-Type": ""})  # noqa: S310 (https checked above)
        try:
            with urllib.request.urlopen(request, timeout=PUT_TIMEOUT_SECONDS, context=context) as reply:  # noqa: S310
                return int(reply.status)
        except urllib.error.HTTPError as error:
            if 400 <= error.code < 500 and error.code != 429:
                raise AnswerRejected(f"The ResponseURL refused the answer with HTTP {error.code}.") from None
            last_error = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            last_error = type(getattr(error, "reason", error)).__name__
        if attempt < PUT_ATTEMPTS:
            clock.sleep(PUT_BACKOFF_SECONDS * 2 ** (attempt - 1))
    raise AnswerError(f"The answer could not be delivered after {PUT_ATTEMPTS} tries (last: {last_error}).")
