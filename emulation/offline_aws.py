"""The offline AWS: moto with the real template, ASL and handlers, on simulated time.

- Lambda functions are created from template.yaml; an invocation runs the real handler in-process
  (through moto_patches, where every patch of moto lives), with the environment the template gives it.
- The state machine is created from statemachine/*.asl.json with the template's DefinitionSubstitutions.
- Wait states, Step Functions retries, the SDK's retry back-off and the handlers' clock all use one SimClock.
- When an execution ends, the template's EventBridge rules are matched as EventBridge would, and the target
  function is invoked with the status-change event.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
import json
import logging
import os
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import boto3
from moto import mock_aws
from moto.core.exceptions import JsonRESTError
from moto.events.models import events_backends

from . import moto_patches
from . import template as cfn_template
from .ecs_api import CallLog
from .ecs_events import Deliveries, Delivery, EventBus, matches
from .sim_clock import SimClock

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "ecs-drain"
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


class LambdaCrash(Exception):
    """An injected crash of a function, as if its process died."""


class TooManyRequests(JsonRESTError):
    """Lambda's answer to an invocation beyond the function's reserved concurrency."""

    code = 429

    def __init__(self, why: str) -> None:
        super().__init__("TooManyRequestsException", f"Rate Exceeded. ({why})")


@dataclass
class Invocation:
    function: str
    at: float
    error: str | None
    action: str = ""  # the drain step ("plan" or "check"), from the event
    calls: Counter[str] = field(default_factory=Counter)  # "service:Action" -> calls made by this invocation
    sim_seconds: float = 0.0  # simulated time it took (its calls, and the pacing between them)


@dataclass
class Context:
    """The Lambda context object the handlers get."""

    function_name: str
    timeout: int
    invoked_function_arn: str = ""
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout * 1000


class _RoutedStdout(io.TextIOBase):
    """Sends what handlers print (JSON logs, EMF metrics) to the emulation's record, the rest to the terminal."""

    def __init__(self, terminal: Any, local: threading.local, sink: list[str]) -> None:
        self.terminal, self.local, self.sink = terminal, local, sink

    def write(self, text: str) -> int:
        if getattr(self.local, "caller", None):
            self.sink.append(text)
            return len(text)
        with contextlib.suppress(ValueError):  # a test's captured stdout may be closed by now
            return int(self.terminal.write(text))
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(ValueError):
            self.terminal.flush()

    def isatty(self) -> bool:  # a live display needs to know it writes to a terminal
        return bool(getattr(self.terminal, "isatty", lambda: False)())


class OfflineAws:
    """`with OfflineAws() as aws:` gives a fresh offline AWS with ecs-drain deployed in it."""

    def __init__(
        self, clock: SimClock | None = None, log_level: str = "INFO", parameters: dict[str, str] | None = None
    ) -> None:
        self.clock = clock or SimClock()
        self.calls = CallLog()
        self.invocations: list[Invocation] = []
        self.output: list[str] = []  # everything the handlers printed: logs and metrics
        self.crashes: dict[str, Callable[[int], bool]] = {}  # function logical id -> crash on the n-th call?
        # function logical id -> is Lambda refusing its invocations at this simulated time? (as when the account's
        # concurrency is used up: 429 TooManyRequestsException, the function never runs)
        self.held_back: dict[str, Callable[[float], bool]] = {}
        self.log_level = log_level
        self.template = cfn_template.load()
        self.parameters: dict[str, str] = dict(parameters or {})  # the provider stack's parameter overrides
        self.exports: dict[str, str] = {}  # the account's CloudFormation exports (this provider's, after deploying)
        self.outputs: dict[str, str] = {}  # the provider stack's outputs (DescribeStacks of STACK gives them)
        self.functions = {f.logical_id: f for f in cfn_template.functions(self.template)}
        self.function_arns: dict[str, str] = {}
        self.versions: dict[str, list[str]] = {}  # logical id -> the handler of each published version, from 1
        self._definition: dict[str, Any] = {}
        self._substitutions: dict[str, str] = {}
        self.state_machine_arn = ""
        self.ended_rules: list[tuple[str, dict[str, Any]]] = []
        self.bus_rules: list[cfn_template.BusRule] = []  # ECS's and Auto Scaling's, resolved
        self.schedules: list[cfn_template.ScheduleRule] = []  # resolved
        self.on_execution_ended: list[Callable[[dict[str, Any]], None]] = []
        self._stack = ExitStack()
        self._counts: dict[str, int] = {}
        self._clients: dict[str, Any] = {}
        self.last_result: dict[str, Any] = {}  # function logical id -> what it last returned
        self.in_flight: Counter[str] = Counter()  # function logical id -> invocations running now
        self.refused: Counter[str] = Counter()  # function logical id -> invocations refused (reserved concurrency)
        self._in_flight_lock = threading.Lock()
        self._executions = 0  # executions whose thread has not ended (announced at StartExecution)
        self._executions_changed = threading.Condition(threading.Lock())

    # ---- setup -------------------------------------------------------------------------------------
    def __enter__(self) -> OfflineAws:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        self._stack.enter_context(
            mock.patch.dict(
                os.environ,
                {
                    "AWS_DEFAULT_REGION": REGION,
                    "AWS_REGION": REGION,
                    "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SESSION_TOKEN": "testing",
                    "POWERTOOLS_TRACE_DISABLED": "true",
                    "POWERTOOLS_DEV": "false",
                },
            )
        )
        os.environ.pop("AWS_PROFILE", None)
        self._stack.enter_context(mock_aws(config=MOTO_CONFIG))
        moto_patches.manual_task_progression(self._stack)
        # moto logs each error a state catches as an ERROR (every wait that times out at its poll interval does):
        # the execution's history says the same, where it belongs.
        interpreter = logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component")
        self._stack.callback(interpreter.setLevel, interpreter.level)
        interpreter.setLevel(logging.CRITICAL)
        self._patch_time()
        self._patch_lambda_and_events()
        self._deploy()
        self._route_output()

        from ecs_drain.aws import clients as drain_aws
        from ecs_drain.runtime import clock as drain_clock

        drain_aws.reset()
        drain_clock.use(self.clock.now, self.clock.sleep)
        self._stack.callback(drain_clock.reset)
        self._stack.callback(drain_aws.reset)

    def _patch_time(self) -> None:
        clock = self.clock
        moto_patches.simulated_time(self._stack, clock.sleep, clock.now, clock.taking_part)
        moto_patches.execution_threads(self._stack, self._execution_started, self._execution_thread_ended)
        moto_patches.callback_waits(self._stack, clock.sleep, clock.wake)
        clock.counted = moto_patches.in_execution

    def _patch_lambda_and_events(self) -> None:
        emulation = self

        def invoke(
            _backend: Any,
            function_name: str,
            _qualifier: Any,
            body: Any,
            _headers: Any,
            response_headers: dict[str, Any],
        ) -> bytes:
            name, _, qualifier = function_name.rsplit(":function:", 1)[-1].partition(":")
            logical_id = name.removeprefix(f"{STACK}-")
            version = int(qualifier) if qualifier.isdigit() else None  # a published version, else $LATEST
            event = json.loads(body) if body else {}
            try:
                result = emulation.invoke(logical_id, event, version)
            except TooManyRequests:
                raise  # the Invoke call itself fails: the function never ran
            except Exception as error:  # the runtime reports it as a function error
                response_headers["x-amz-function-error"] = "Unhandled"
                error_type = "Runtime.ExitError" if isinstance(error, LambdaCrash) else type(error).__name__
                return json.dumps({"errorType": error_type, "errorMessage": str(error)[:2000]}).encode()
            return json.dumps(result).encode()

        moto_patches.lambda_invocations(self._stack, invoke)
        moto_patches.execution_endings(self._stack, self._execution_ended)
        moto_patches.execution_history_order(self._stack)
        moto_patches.history_limit(self._stack)
        moto_patches.step_functions_integration_names(self._stack)
        moto_patches.memoized_attribute_keys(self._stack)
        moto_patches.planned_json_structures(self._stack)
        moto_patches.one_lambda_client_per_world(self._stack)
        moto_patches.memoized_update_expressions(self._stack)
        moto_patches.memoized_json_paths(self._stack)
        moto_patches.shared_service_models(self._stack)

    def _deploy(self) -> None:
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(
            RoleName=f"{STACK}-role",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        lam = boto3.client("lambda", region_name=REGION)
        sm_logical_id, sm_props, definition = cfn_template.state_machine(self.template)
        # What a deployment overrides, over the template's defaults.
        overrides = {"LogLevel": self.log_level} | self.parameters
        stack = cfn_template.Stack.deployed(self.template, overrides, STACK, REGION, ACCOUNT)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for logical_id, props in cfn_template.tables(self.template, stack):
            table = dynamodb.create_table(
                TableName=f"{STACK}-{logical_id}",
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode=props.get("BillingMode", "PROVISIONED"),
            )["TableDescription"]
            stack.refs[logical_id] = table["TableName"]
            stack.attributes[(logical_id, "Arn")] = table["TableArn"]
        for logical_id, function in self.functions.items():
            arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-{logical_id}"
            stack.refs[logical_id] = f"{STACK}-{logical_id}"
            stack.attributes[(logical_id, "Arn")] = arn
            self.versions[logical_id] = [function.handler]  # version 1: what this deployment published
            if function.published:
                stack.refs[f"{logical_id}.Version"] = f"{arn}:1"
        sm_name = stack.resolve(sm_props.get("Name", f"{STACK}-{sm_logical_id}"))
        self.state_machine_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{sm_name}"
        stack.refs[sm_logical_id] = self.state_machine_arn
        for logical_id, function in self.functions.items():
            lam.create_function(
                FunctionName=f"{STACK}-{logical_id}",
                Runtime="python3.13",
                Role=role,
                Handler=function.handler,
                Code={"ZipFile": _empty_zip()},
                Timeout=function.timeout,
            )
            self.function_arns[logical_id] = stack.attributes[(logical_id, "Arn")]
            function.environment = {k: str(stack.resolve(v)) for k, v in function.environment.items()}
            reserved = stack.resolve(function.reserved_concurrency)
            function.reserved_concurrency = None if reserved is None else int(reserved)
        substitutions = {k: str(stack.resolve(v)) for k, v in sm_props.get("DefinitionSubstitutions", {}).items()}
        self._definition, self._substitutions = definition, substitutions
        sfn = boto3.client("stepfunctions", region_name=REGION)
        created = sfn.create_state_machine(
            name=sm_name, definition=cfn_template.substitute(definition, substitutions), roleArn=role, type="STANDARD"
        )["stateMachineArn"]
        assert created == self.state_machine_arn, (created, self.state_machine_arn)
        self.exports.update(cfn_template.exports(self.template, stack))
        self.outputs.update(cfn_template.outputs(self.template, stack))
        self.ended_rules = [
            (fid, stack.resolve(pattern)) for fid, pattern in cfn_template.execution_ended_patterns(self.template)
        ]
        events = boto3.client("events", region_name=REGION)
        for rule in cfn_template.bus_rules(self.template):
            name, pattern = str(stack.resolve(rule.name)), stack.resolve(rule.pattern)
            events.put_rule(Name=name, EventPattern=json.dumps(pattern), State=rule.state)
            self.bus_rules.append(cfn_template.BusRule(rule.function, name, pattern, rule.state))
        for schedule in cfn_template.schedule_rules(self.template):
            name = str(stack.resolve(schedule.name))
            events.put_rule(Name=name, ScheduleExpression=schedule.expression, State=schedule.state)
            self.schedules.append(dataclasses.replace(schedule, name=name))
        environment: dict[str, str] = {}
        for function in self.functions.values():
            environment.update(function.environment)
        self._stack.enter_context(mock.patch.dict(os.environ, environment))

    def _route_output(self) -> None:
        routed = _RoutedStdout(sys.stdout, self.calls.local, self.output)
        self._stack.enter_context(mock.patch.object(sys, "stdout", routed))
        for module in {f.handler.rsplit(".", 1)[0] for f in self.functions.values()}:
            importlib.import_module(module)
        for handler in logging.getLogger("ecs-drain").handlers:
            if isinstance(handler, logging.StreamHandler):
                previous = handler.stream
                handler.setStream(routed)
                self._stack.callback(handler.setStream, previous)

    def deploy_handler(self, logical_id: str, handler: str) -> int:
        """A new deployment of one function's code, as `sam deploy` makes it: $LATEST runs `handler` from now on; a
        function with AutoPublishAlias publishes it as the next version, and the state machine's definition names
        that version for the executions started from now on (those under way keep the definition they started
        with, as Step Functions keeps it)."""
        self.versions[logical_id].append(handler)
        self.functions[logical_id].handler = handler
        version = len(self.versions[logical_id])
        if self.functions[logical_id].published:
            old = f"{self.function_arns[logical_id]}:{version - 1}"
            self._substitutions = {
                k: f"{self.function_arns[logical_id]}:{version}" if v == old else v
                for k, v in self._substitutions.items()
            }
            definition = cfn_template.substitute(self._definition, self._substitutions)
            self.sfn().update_state_machine(stateMachineArn=self.state_machine_arn, definition=definition)
        return version

    # ---- running -----------------------------------------------------------------------------------
    def invoke(self, logical_id: str, event: dict[str, Any], version: int | None = None) -> Any:
        """Run a function's real handler, as Lambda would, within its reserved concurrency."""
        limit = self.functions[logical_id].reserved_concurrency
        held_back = self.held_back.get(logical_id)
        if held_back is not None and held_back(self.clock.now()):
            with self._in_flight_lock:
                self.refused[logical_id] += 1
            raise TooManyRequests("the account's concurrency is used up")
        with self._in_flight_lock:
            if limit is not None and self.in_flight[logical_id] >= limit:
                self.refused[logical_id] += 1
                raise TooManyRequests(f"reserved concurrency of {logical_id}")
            self.in_flight[logical_id] += 1
        try:
            return self._run(logical_id, event, version)
        finally:
            with self._in_flight_lock:
                self.in_flight[logical_id] -= 1

    def _run(self, logical_id: str, event: dict[str, Any], version: int | None) -> Any:
        """Run a function's real handler in-process (a version's, or $LATEST's); crashes are injected here."""
        function = self.functions[logical_id]
        count = self._counts.get(logical_id, 0) + 1
        self._counts[logical_id] = count
        path = self.versions[logical_id][version - 1] if version is not None else function.handler
        module_name, attribute = path.rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), attribute)
        context = Context(f"{STACK}-{logical_id}", function.timeout, self.function_arns[logical_id])
        action = str(event.get("Action", "")) if isinstance(event, dict) else ""
        if action == "check":  # the first check is the plan
            from ecs_drain.handlers.drain import step_action

            action = step_action(event)  # type: ignore[arg-type]
        before = self.calls.by_action(caller=logical_id)
        sim_started = self.clock.now()
        with self.clock.participant(), self.calls.acting_as(logical_id):
            try:
                crash = self.crashes.get(logical_id)
                if crash is not None and crash(count):
                    raise LambdaCrash(f"{logical_id} crashed (injected, call {count})")
                result = handler(event, context)
            except Exception as error:
                made = self.calls.by_action(caller=logical_id) - before
                self.invocations.append(Invocation(logical_id, self.clock.now(), type(error).__name__, action, made))
                raise
        made = self.calls.by_action(caller=logical_id) - before
        self.invocations.append(
            Invocation(logical_id, self.clock.now(), None, action, made, self.clock.now() - sim_started)
        )
        self.last_result[logical_id] = result
        return result

    def _execution_started(self) -> None:
        self.clock.expect_participant()
        with self._executions_changed:
            self._executions += 1

    def _execution_thread_ended(self) -> None:
        with self._executions_changed:
            self._executions -= 1
            self._executions_changed.notify_all()
        self.clock.participant_ended()

    def executions_running(self) -> int:
        """Executions still running: started, and their thread (with what their end set off) not yet ended."""
        return self._executions

    def wait_for_executions(self, wall_seconds: float) -> bool:
        """Wait until no execution runs (True), or `wall_seconds` have passed (False); woken as each one ends."""
        with self._executions_changed:
            return self._executions_changed.wait_for(lambda: self._executions == 0, timeout=wall_seconds)

    def _execution_ended(self, execution: Any) -> None:
        status = str(execution.exec_status)
        detail = {
            "executionArn": execution.exec_arn,
            "stateMachineArn": self.state_machine_arn,
            "name": execution.name,
            "status": status.rsplit(".", 1)[-1],
            "input": execution.input_data
            if isinstance(execution.input_data, str)
            else json.dumps(execution.input_data),
            "output": None,
        }
        event = {
            "version": "0",
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "account": ACCOUNT,
            "region": REGION,
            "detail": detail,
        }
        for listener in self.on_execution_ended:
            listener(detail)
        for logical_id, pattern in self.ended_rules:
            if matches(pattern, event):
                for _ in range(3):  # the rule's RetryPolicy: 2 retries
                    try:
                        self.invoke(logical_id, event)
                        break
                    except Exception:  # noqa: S112 (EventBridge retries, then drops the event)
                        continue

    def connect_event_rules(
        self, bus: EventBus, delivery: Delivery | None, autoscaling_delivery: Delivery | None
    ) -> dict[str, Deliveries]:
        """The template's ECS and Auto Scaling rules on the emulated account's event bus, delivering to their
        functions while the rule is ENABLED (as the drains switch the task-stopped rule): ECS's as `delivery` says,
        Auto Scaling's as `autoscaling_delivery` (None: that service's events never come). Per rule name, what it
        was sent."""
        backend = events_backends[ACCOUNT][REGION]
        counts = {}
        for rule in self.bus_rules:

            def enabled(name: str = rule.name) -> bool:
                found = backend.event_buses["default"].rules.get(name)
                return found is not None and found.state == "ENABLED"

            def target(event: dict[str, Any], function: str = rule.function) -> None:
                self._deliver_event(function, event)

            how = delivery if rule.source == "aws.ecs" else autoscaling_delivery
            if how is not None:
                counts[rule.name] = bus.put_rule(rule.name, rule.pattern, target, how, enabled)
        return counts

    def connect_schedules(self) -> None:
        """The template's Schedule events on the simulated clock: each fires every period from now on, invoking its
        function (as EventBridge does, with its retries) while its rule is ENABLED (as the custom resource switches
        it); a disabled rule's firing does nothing."""
        backend = events_backends[ACCOUNT][REGION]

        def arm(schedule: cfn_template.ScheduleRule, when: float) -> None:
            def fire() -> None:
                found = backend.event_buses["default"].rules.get(schedule.name)
                if found is not None and found.state == "ENABLED":
                    event = {"source": "aws.events", "detail-type": "Scheduled Event", "resources": [found.arn]}
                    self._deliver_event(schedule.function, event | {"time": str(self.clock.now()), "detail": {}})
                arm(schedule, when + schedule.every_seconds)

            self.clock.call_at(when, fire)

        for schedule in self.schedules:
            arm(schedule, self.clock.now() + schedule.every_seconds)

    def _deliver_event(self, logical_id: str, event: dict[str, Any]) -> None:
        """EventBridge invokes the target asynchronously, retrying a failed invocation (the rule's RetryPolicy: 2)."""
        for _ in range(3):
            try:
                self.invoke(logical_id, event)
                return
            except Exception:  # noqa: S112 (EventBridge retries, then drops the event)
                continue

    def client(self, service: str) -> Any:
        """A boto3 client of this offline AWS, made once (making one takes tens of milliseconds)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=REGION)
        return self._clients[service]

    def sfn(self) -> Any:
        return self.client("stepfunctions")


def _empty_zip() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "The emulation runs the handlers from functions/ in-process.")
    return buffer.getvalue()
