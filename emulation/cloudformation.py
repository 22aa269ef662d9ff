"""A CloudFormation driver: sends the events CloudFormation sends and records every answer.

The ResponseURL is an https server on loopback with a throwaway certificate authority (trustme); the
answering code trusts it through ECS_DRAIN_CA_BUNDLE, never by turning verification off.
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import trustme

from ecs_drain.runtime.environment import CA_BUNDLE

from . import moto_patches

if TYPE_CHECKING:
    from .ecs_api import CallLog
    from .offline_aws import OfflineAws

# "CloudFormation tries to delete a resource three times before CloudFormation skips the resource and continues the
# cleanup process" (AWS knowledge center); each try is a new Delete request.
DELETE_TRIES = 3
# A custom resource that never answers fails when CloudFormation's own wait ends (3600 s, or ServiceTimeout).
CUSTOM_RESOURCE_TIMEOUT_SECONDS = 3600


@dataclass
class Answer:
    request_id: str
    body: dict[str, Any]
    at: float  # simulated time


@dataclass
class Endpoint:
    """How the ResponseURL behaves: a script of failures ("500", "reset", "403"), then 200; or forever."""

    script: list[str] = field(default_factory=list)
    forever: str | None = None
    attempts: int = 0


class ResponseServer:
    def __init__(self, clock_now: Any) -> None:
        self.answers: list[Answer] = []
        self.endpoints: dict[str, Endpoint] = {}
        self.lock = threading.Lock()
        self.answered = threading.Condition(self.lock)  # notified at every answer received
        self._now = clock_now
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self._dir = tempfile.TemporaryDirectory(prefix="ecs-drain-ca-")
        self.ca_bundle = os.path.join(self._dir.name, "ca.pem")
        ca.cert_pem.write_to_path(self.ca_bundle)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                payload = self.rfile.read(length)
                key = self.path.split("?", 1)[0].rsplit("/", 1)[-1]
                with server.lock:
                    endpoint = server.endpoints.setdefault(key, Endpoint())
                    endpoint.attempts += 1
                    outcome = endpoint.script.pop(0) if endpoint.script else (endpoint.forever or "200")
                    if outcome == "200":
                        body = json.loads(payload)
                        server.answers.append(Answer(body.get("RequestId", ""), body, server._now()))
                        server.answered.notify_all()
                if outcome == "reset":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_response(int(outcome))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        # A short poll: stop() (every world's teardown) waits for the serving loop to notice.
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def url(self, key: str) -> str:
        # Shaped like a pre-signed S3 URL: the signature is the secret that must never leak.
        return (
            f"https://127.0.0.1:{self.port}/cloudformation-custom-resource-response-useast1/{key}"
            f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=secret{key.replace('-', '')}"
        )

    def answers_for(self, request_id: str) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if a.request_id == request_id]

    def wait_for(self, request_id: str, seconds: float) -> list[Answer]:
        """The request's answers, once there is one or after `seconds` of wall time."""
        with self.answered:
            self.answered.wait_for(lambda: any(a.request_id == request_id for a in self.answers), timeout=seconds)
            return [a for a in self.answers if a.request_id == request_id]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._dir.cleanup()


@dataclass
class Request:
    event: dict[str, Any]

    @property
    def request_id(self) -> str:
        return str(self.event["RequestId"])

    @property
    def response_url(self) -> str:
        return str(self.event["ResponseURL"])

    def describe(self) -> str:
        return f"{self.event['RequestType']} {self.event['LogicalResourceId']}"


@dataclass
class StackResource:
    """One resource of the stack as ListStackResources gives it."""

    physical_id: str
    type: str
    status: str = "CREATE_COMPLETE"
    in_template: bool = True  # False once an update removed it from the template (it is deleted in cleanup)


class CloudFormation:
    """Plays CloudFormation for one stack with Custom::ECSDrain resources in it: the requests it sends, the stack's
    status as each phase runs, and its resources and template as DescribeStacks, ListStackResources and GetTemplate
    give them (answered by StackApi)."""

    def __init__(self, aws: OfflineAws, server: ResponseServer, stack_name: str = "web-cluster") -> None:
        self.aws = aws
        self.server = server
        self.stack_name = stack_name
        self.stack_id = f"arn:aws:cloudformation:us-east-1:123456789012:stack/{stack_name}/{uuid.uuid4()}"
        self.service_token = aws.function_arns["CustomResourceFunction"]
        self.events: list[tuple[float, str]] = []
        self.delete_tries: list[tuple[Request, Answer | None]] = []  # the last cleanup's Deletes and their answers
        self.skipped: list[str] = []  # resources whose Delete failed every try: left out of the stack
        self.status = "CREATE_COMPLETE"
        self.statuses: list[tuple[float, str]] = []  # every status the stack went through, with when
        self.resources: dict[str, StackResource] = {}  # logical id -> the resource
        self.update_answer: Answer | None = None  # the answer to the last update's Update (not a rollback's)
        STACKS[self.stack_id] = self

    def set_status(self, status: str) -> None:
        self.status = status
        self.statuses.append((self.aws.clock.now(), status))
        self.events.append((self.aws.clock.now(), f"stack {status}"))

    def template(self) -> dict[str, Any]:
        """The stack's current template (its resources; properties are not modelled)."""
        return {"Resources": {logical: {"Type": r.type} for logical, r in self.resources.items() if r.in_template}}

    def request(
        self,
        request_type: str,
        logical_id: str,
        properties: dict[str, Any],
        *,
        physical_id: str | None = None,
        old_properties: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> Request:
        request_id = request_id or str(uuid.uuid4())
        event: dict[str, Any] = {
            "RequestType": request_type,
            "ServiceToken": self.service_token,
            "ResponseURL": self.server.url(request_id),
            "StackId": self.stack_id,
            "RequestId": request_id,
            "LogicalResourceId": logical_id,
            "ResourceType": "Custom::ECSDrain",
            "ResourceProperties": {"ServiceToken": self.service_token, **properties},
        }
        if physical_id is not None:
            event["PhysicalResourceId"] = physical_id
        if old_properties is not None:
            event["OldResourceProperties"] = {"ServiceToken": self.service_token, **old_properties}
        return Request(event)

    def send(self, request: Request) -> Any:
        """Invoke the provider as CloudFormation does (asynchronously; here in-process)."""
        self.events.append(
            (self.aws.clock.now(), f"{request.event['RequestType']} {request.event['LogicalResourceId']}")
        )
        return self.aws.invoke("CustomResourceFunction", request.event)

    def wait_for_answer(self, request: Request, wall_seconds: float = 120.0) -> Answer | None:
        """Wait until the request is answered, or until no execution that could answer it is running."""
        deadline = time.monotonic() + wall_seconds
        while time.monotonic() < deadline:
            # Woken by the answer itself; between answers, whether an execution still runs is asked of the
            # emulation's own count (every execution is counted from its StartExecution to its thread's end).
            answers = self.server.wait_for(request.request_id, 0.1)
            if answers:
                self.events.append(
                    (
                        answers[0].at,
                        f"answer {answers[0].body['Status']} to "
                        f"{request.event['RequestType']} {request.event['LogicalResourceId']}",
                    )
                )
                return answers[0]
            if not self.aws.executions_running():
                answers = self.server.answers_for(request.request_id)
                return answers[0] if answers else None
        return None

    def _exchange(self, request: Request) -> Answer | None:
        """Send a request and wait for its answer; one nobody answers fails when CloudFormation's wait ends."""
        sent_at = self.aws.clock.now()
        self.send(request)
        answer = self.wait_for_answer(request)
        if answer is None:
            self.aws.clock.sleep(max(0.0, sent_at + CUSTOM_RESOURCE_TIMEOUT_SECONDS - self.aws.clock.now()))
            self.events.append((self.aws.clock.now(), f"{request.describe()} timed out without an answer"))
        return answer

    # ---- whole operations --------------------------------------------------------------------------
    def create(self, logical_id: str, properties: dict[str, Any]) -> tuple[Request, Answer | None]:
        request = self.request("Create", logical_id, properties)
        self.send(request)
        answer = self.wait_for_answer(request)
        if answer is not None and answer.body["Status"] == "SUCCESS":
            self.resources[logical_id] = StackResource(answer.body["PhysicalResourceId"], "Custom::ECSDrain")
        return request, answer

    def update(
        self, logical_id: str, old: dict[str, Any], new: dict[str, Any], physical_id: str
    ) -> tuple[Request, Answer | None]:
        """The Update CloudFormation sends in UPDATE_IN_PROGRESS (after any replaced resource it refers to exists)."""
        request = self.request("Update", logical_id, new, physical_id=physical_id, old_properties=old)
        self.update_answer = self._exchange(request)
        return request, self.update_answer

    def roll_back(
        self, logical_id: str, old: dict[str, Any], new: dict[str, Any], failed: Answer | None, physical_id: str
    ) -> Answer | None:
        """After an Update answered FAILED (or not at all): the reverse Update (the old properties, the new ones as
        OldResourceProperties, the id of the FAILED answer). A FAILED answer that changed the id is taken as a
        replacement: CloudFormation sends a Delete for that id instead. The stack ends UPDATE_ROLLBACK_FAILED if that
        fails; the caller deletes what the update created, then calls rolled_back()."""
        self.set_status("UPDATE_ROLLBACK_IN_PROGRESS")
        answered_id = failed.body["PhysicalResourceId"] if failed is not None else physical_id
        if answered_id == physical_id:
            reverse = self.request("Update", logical_id, old, physical_id=physical_id, old_properties=new)
            answer = self._exchange(reverse)
        else:
            self.set_status("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
            answer = self._exchange(self.request("Delete", logical_id, new, physical_id=answered_id))
        if answer is None or answer.body["Status"] != "SUCCESS":
            self.set_status("UPDATE_ROLLBACK_FAILED")
            return answer
        if self.status != "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS":
            self.set_status("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
        return answer

    def rolled_back(self) -> None:
        self.set_status("UPDATE_ROLLBACK_COMPLETE")

    def clean_up(self, logical_id: str, old: dict[str, Any], physical_id: str) -> tuple[Request, Answer | None]:
        """The Delete of the old id in UPDATE_COMPLETE_CLEANUP_IN_PROGRESS. One that fails is tried DELETE_TRIES times
        in all, each a new request; then CloudFormation skips the resource and the cleanup goes on (`skipped`). The
        last Delete and its answer are returned."""
        if self.status != "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS":
            self.set_status("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        self.delete_tries = []
        for attempt in range(1, DELETE_TRIES + 1):
            delete = self.request("Delete", logical_id, old, physical_id=physical_id)
            result = self._exchange(delete)
            self.delete_tries.append((delete, result))
            if result is not None and result.body["Status"] == "SUCCESS":
                break
            if attempt == DELETE_TRIES:
                self.skipped.append(logical_id)
                self.events.append(
                    (self.aws.clock.now(), f"Delete {logical_id} failed {DELETE_TRIES} times: skipped, cleanup goes on")
                )
        return delete, result

    def delete(self, logical_id: str, properties: dict[str, Any], physical_id: str) -> tuple[Request, Answer | None]:
        request = self.request("Delete", logical_id, properties, physical_id=physical_id)
        self.send(request)
        return request, self.wait_for_answer(request)


# Every driver's stack by id: what StackApi answers for (others are left to moto).
STACKS: dict[str, CloudFormation] = {}


class StackApi:
    """DescribeStacks, ListStackResources and GetTemplate for the drivers' stacks, as CloudFormation answers them
    (a stack no driver plays is refused, as CloudFormation refuses an unknown one), and ListExports for the account.
    Every call is counted in `log`."""

    def __init__(self, log: CallLog, exports: dict[str, str], provider: tuple[str, dict[str, str]] | None) -> None:
        self.log = log
        self.exports = exports  # the account's exports, by name
        self.provider = provider  # the provider stack's name and outputs

    def __call__(self, action: str, parameters: dict[str, str]) -> tuple[int, dict[str, str], str]:
        caller = self.log.caller("cloudformation", action)
        self.log.calls[(caller, "cloudformation", action)] += 1
        if "StackName" in parameters:  # a name, or a stack id (arn:...:stack/<name>/<id>)
            name = parameters["StackName"].split(":stack/", 1)[-1].split("/", 1)[0]
            self.log.scopes.add((caller, "cloudformation", action, name))
        if action == "ListExports":  # the account's, one page
            exported = [{"ExportingStackId": "", "Name": k, "Value": v} for k, v in sorted(self.exports.items())]
            return moto_patches.serialized("cloudformation", action, {"Exports": exported})
        name = parameters.get("StackName", "")
        if action == "DescribeStacks" and self.provider is not None and name == self.provider[0]:
            outputs = [{"OutputKey": k, "OutputValue": v} for k, v in sorted(self.provider[1].items())]
            described = {"StackName": name, "StackStatus": "CREATE_COMPLETE", "Outputs": outputs}
            created = {"StackId": f"arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/provider"}
            return moto_patches.serialized(
                "cloudformation", action, {"Stacks": [{**created, **described, "CreationTime": datetime.now(UTC)}]}
            )
        stack = next((s for s in STACKS.values() if name in (s.stack_id, s.stack_name)), None)
        answer = getattr(self, action, None)
        if stack is None or answer is None:
            return _refused(f"Stack with id {name} does not exist")
        return moto_patches.serialized("cloudformation", action, answer(stack))

    @staticmethod
    def DescribeStacks(stack: CloudFormation) -> dict[str, Any]:
        created = datetime.fromtimestamp(stack.statuses[0][0] if stack.statuses else 0, UTC)
        return {
            "Stacks": [
                {
                    "StackId": stack.stack_id,
                    "StackName": stack.stack_name,
                    "StackStatus": stack.status,
                    "CreationTime": created,
                }
            ]
        }

    @staticmethod
    def ListStackResources(stack: CloudFormation) -> dict[str, Any]:
        now = datetime.fromtimestamp(stack.aws.clock.now(), UTC)
        return {
            "StackResourceSummaries": [
                {
                    "LogicalResourceId": logical,
                    "PhysicalResourceId": r.physical_id,
                    "ResourceType": r.type,
                    "ResourceStatus": r.status,
                    "LastUpdatedTimestamp": now,
                }
                for logical, r in sorted(stack.resources.items())
            ]
        }

    @staticmethod
    def GetTemplate(stack: CloudFormation) -> dict[str, Any]:
        return {"TemplateBody": json.dumps(stack.template())}


def _refused(message: str) -> tuple[int, dict[str, str], str]:
    body = (
        '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>'
        f"<Code>ValidationError</Code><Message>{message}</Message></Error><RequestId>0</RequestId></ErrorResponse>"
    )
    return 400, {"Content-Type": "text/xml"}, body


@contextmanager
def stack_api(
    log: CallLog, exports: dict[str, str], provider: tuple[str, dict[str, str]] | None = None
) -> Iterator[None]:
    """The drivers' stacks, the account's exports and (`provider`: its name and outputs) the provider stack."""
    with moto_patches.service_intercept("cloudformation.", StackApi(log, exports, provider)):
        try:
            yield
        finally:
            STACKS.clear()


@contextmanager
def response_server(aws: OfflineAws) -> Iterator[ResponseServer]:
    server = ResponseServer(aws.clock.now)
    server.start()
    previous = os.environ.get(CA_BUNDLE)
    os.environ[CA_BUNDLE] = server.ca_bundle
    try:
        yield server
    finally:
        if previous is None:
            os.environ.pop(CA_BUNDLE, None)
        else:
            os.environ[CA_BUNDLE] = previous
        server.stop()
