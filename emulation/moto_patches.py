"""Every patch of moto and botocore internals the emulation makes, in one place, for one moto version.

These reach into private methods that moto changes between releases, so this module refuses to load with any
other moto than the one it was written and tested for (requirements/dev.lock pins it). Moving to another moto
means reading each patch below against its source, then changing MOTO_VERSION.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from importlib.metadata import version
from typing import Any
from unittest import mock
from urllib.parse import parse_qs

MOTO_VERSION = "5.2.5"

if version("moto") != MOTO_VERSION:
    raise ImportError(
        f"emulation/moto_patches.py was written for moto {MOTO_VERSION}, but moto {version('moto')} is installed. "
        "Install the locked requirements (make test does), or review every patch in this module against the new "
        "moto and then change MOTO_VERSION."
    )

import botocore.endpoint  # noqa: E402 (after the version check, on purpose)
import botocore.loaders  # noqa: E402
import botocore.session  # noqa: E402
import jsonpath_ng  # noqa: E402
import jsonpath_ng.ext  # noqa: E402
from botocore.awsrequest import AWSPreparedRequest  # noqa: E402
from moto.awslambda_simple.models import LambdaSimpleBackend  # noqa: E402
from moto.core.botocore_stubber import BotocoreStubber  # noqa: E402
from moto.core.responses import ActionResult, BaseResponse  # noqa: E402
from moto.core.serialize import (  # noqa: E402
    AttributePickerContext,
    BaseJSONSerializer,
    ResponseSerializer,
    XFormedAttributePicker,
    get_serializer_class,
)
from moto.core.utils import get_service_model  # noqa: E402
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # noqa: E402
from moto.ec2.models import ec2_backends  # noqa: E402
from moto.ecs.responses import EC2ContainerServiceResponse  # noqa: E402
from moto.moto_api import state_manager  # noqa: E402
from moto.stepfunctions.parser.api import HistoryEventType  # noqa: E402
from moto.stepfunctions.parser.asl.component.common.path import result_path as result_path_module  # noqa: E402
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl  # noqa: E402
from moto.stepfunctions.parser.asl.component.program import program as program_module  # noqa: E402
from moto.stepfunctions.parser.asl.component.state.exec import execute_state as execute_state_module  # noqa: E402
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState  # noqa: E402
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils  # noqa: E402
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (  # noqa: E402
    ResourceCondition,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (  # noqa: E402
    StateTaskServiceSfn,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction  # noqa: E402
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint, CallbackOutcome  # noqa: E402
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager  # noqa: E402
from moto.stepfunctions.parser.asl.utils import json_path as json_path_module  # noqa: E402
from moto.stepfunctions.parser.backend import execution_worker as execution_worker_module  # noqa: E402
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution  # noqa: E402
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker  # noqa: E402
from moto.stepfunctions.responses import StepFunctionResponse  # noqa: E402

# moto's own ECS response methods and request dispatch, for the patched ones to fall back on.
ORIGINAL_CALL_ACTION = BaseResponse.call_action

LambdaInvoke = Callable[[Any, str, Any, Any, Any, dict[str, Any]], bytes]


def simulated_time(
    stack: ExitStack, sleep: Callable[[float], None], now: Callable[[], float], simulated: Callable[[], bool]
) -> None:
    """Wait states, Step Functions retry intervals and the SDK's back-off (where `simulated()`) run on `sleep`."""
    real_time = botocore.endpoint.time

    def wait_interval(_self: WaitFunction, env: Any, wait_seconds: int) -> None:
        if env.is_running():
            sleep(wait_seconds)

    def sdk_sleep(seconds: float) -> None:
        if simulated():
            sleep(seconds)
        else:
            real_time.sleep(seconds)

    stack.enter_context(mock.patch.object(WaitFunction, "_wait_interval", wait_interval))
    stack.enter_context(mock.patch.object(retrier_decl, "time", types.SimpleNamespace(sleep=sleep, time=now)))
    stack.enter_context(
        mock.patch.object(botocore.endpoint, "time", types.SimpleNamespace(sleep=sdk_sleep, time=real_time.time))
    )


def manual_task_progression(stack: ExitStack) -> None:
    """moto moves tasks to RUNNING on its own; the scheduler simulator moves them instead."""
    state_manager.set_transition("ecs::task", {"progression": "manual", "times": 10**12})
    stack.callback(state_manager.unset_transition, "ecs::task")


def lambda_invocations(stack: ExitStack, invoke: LambdaInvoke) -> None:
    """Lambda invocations (Step Functions' lambda:invoke included) run `invoke` in-process instead of a container."""
    stack.enter_context(mock.patch.object(LambdaSimpleBackend, "invoke", invoke))


_EXECUTION_THREADS: set[int] = set()


class _ExecutionThread(threading.Thread):
    """A thread moto's Step Functions interpreter starts for an execution (each runs while its parent waits)."""

    def run(self) -> None:
        _EXECUTION_THREADS.add(threading.get_ident())
        try:
            super().run()
        finally:
            _EXECUTION_THREADS.discard(threading.get_ident())


def in_execution() -> bool:
    """Whether the calling thread is one of an execution's threads."""
    return threading.get_ident() in _EXECUTION_THREADS


def execution_threads(stack: ExitStack, announce: Callable[[], None], ended: Callable[[], None]) -> None:
    """`announce()` runs when an execution starts, before its thread does, and `ended()` when its thread ends (or
    if it never starts); the threads the interpreter starts for it are known to `in_execution()`."""
    original_start = Execution.start
    original_logic = ExecutionWorker._execution_logic

    def start(execution: Execution) -> None:
        announce()
        try:
            original_start(execution)
        except BaseException:
            ended()
            raise

    def execution_logic(worker: ExecutionWorker) -> None:
        try:
            original_logic(worker)
        finally:
            ended()

    stack.enter_context(mock.patch.object(Execution, "start", start))
    stack.enter_context(mock.patch.object(ExecutionWorker, "_execution_logic", execution_logic))
    threading_with_tracking = types.SimpleNamespace(**{**vars(threading), "Thread": _ExecutionThread})
    stack.enter_context(mock.patch.object(program_module, "threading", threading_with_tracking))
    stack.enter_context(mock.patch.object(execute_state_module, "Thread", _ExecutionThread))
    stack.enter_context(mock.patch.object(execution_worker_module, "Thread", _ExecutionThread))


NO_TIMEOUT_SECONDS = 10.0**9
_PARENT_WAIT = threading.local()


class _ParentEvent(threading.Event):
    """The event a state's parent thread waits on: without a timeout where the state waits for its token."""

    def wait(self, timeout: float | None = None) -> bool:
        return super().wait(None if getattr(_PARENT_WAIT, "untimed", False) else timeout)


def callback_waits(
    stack: ExitStack, sleep: Callable[[float, threading.Event], None], wake: Callable[[threading.Event], None]
) -> None:
    """A task waiting for its token (`.waitForTaskToken`) waits on simulated time, its timeout (TimeoutSeconds or
    TimeoutSecondsPath) included, and SendTaskSuccess wakes it at once. moto's state runs in a thread its parent
    waits for with the timeout on the wall clock: for these tasks the parent waits for the thread alone, which
    ends on the simulated timeout."""
    original_evaluate = ExecutionState._evaluate_with_timeout

    def wait(endpoint: CallbackEndpoint, timeout: float | None = None) -> CallbackOutcome | None:
        sleep(NO_TIMEOUT_SECONDS if timeout is None else timeout, endpoint._notify_event)
        return endpoint._outcome

    def notify(endpoint: CallbackEndpoint, outcome: CallbackOutcome) -> None:
        endpoint._outcome = outcome
        wake(endpoint._notify_event)
        if endpoint._heartbeat_endpoint:
            endpoint._heartbeat_endpoint.notify()

    def interrupt_all(endpoint: CallbackEndpoint) -> None:
        wake(endpoint._notify_event)
        if endpoint._heartbeat_endpoint is not None:
            endpoint._heartbeat_endpoint.notify()

    def evaluate_with_timeout(state: ExecutionState, env: Any) -> None:
        callback = getattr(getattr(state, "resource", None), "condition", None) == ResourceCondition.WaitForTaskToken
        _PARENT_WAIT.untimed = callback  # read by this thread's wait for the state's thread
        try:
            original_evaluate(state, env)
        except Exception:
            if callback and not env.is_running():
                return  # stopped while it waited (StopExecution): the execution is ABORTED, not failed by this
            raise
        finally:
            _PARENT_WAIT.untimed = False

    threading_untimed = types.SimpleNamespace(**{**vars(threading), "Event": _ParentEvent})
    stack.enter_context(mock.patch.object(execute_state_module, "threading", threading_untimed))
    stack.enter_context(mock.patch.object(CallbackEndpoint, "wait", wait))
    stack.enter_context(mock.patch.object(CallbackEndpoint, "notify", notify))
    stack.enter_context(mock.patch.object(CallbackEndpoint, "interrupt_all", interrupt_all))
    stack.enter_context(mock.patch.object(ExecutionState, "_evaluate_with_timeout", evaluate_with_timeout))


def memoized_attribute_keys(stack: ExitStack) -> None:
    """moto's response serializer works out, for every attribute of every object it writes, the names the value may
    have (alias providers instantiated per attribute): half the CPU of a large DescribeContainerInstances. The names
    depend only on the picker, the object's class (its name, its Meta aliases), the shape and the key, so they are
    worked out once per such combination; the order, and so the value picked, is moto's own."""
    original = XFormedAttributePicker.get_possible_keys
    known: dict[tuple[Any, ...], tuple[str, ...]] = {}

    def get_possible_keys(picker: XFormedAttributePicker, context: AttributePickerContext) -> Iterator[str]:
        obj = context.obj
        if "Meta" in getattr(obj, "__dict__", ()):  # aliases of this object alone: not shared with its class
            return original(picker, context)
        key = (type(picker), id(picker.alias_providers), type(obj), context.shape, context.key)
        names = known.get(key)
        if names is None:
            names = known[key] = tuple(original(picker, context))
        return iter(names)

    stack.enter_context(mock.patch.object(XFormedAttributePicker, "get_possible_keys", get_possible_keys))


_MISSING = object()


def planned_json_structures(stack: ExitStack) -> None:
    """moto's JSON serializer picks each member of each object through a fresh picker context and alias generator:
    about half the CPU of a 1,000-target drain's describes (3.5 million picks in one test). Where the serializer
    writes members as moto's base class does (not the REST ones, which place members in headers) and the picker is
    moto's plain XFormedAttributePicker, the candidate names of a member depend only on the object's class, the
    structure and the member, so they are planned once per (class, structure); values are looked up as moto's
    `get_value` does, in moto's order, and each member is written by moto's own `_serialize`. A member a response
    transformer may apply to (ECS's container instance attributes), dotted names and aliases of one object alone go
    through moto's own path."""
    original = BaseJSONSerializer._serialize_type_structure
    plans: dict[tuple[Any, ...], list[tuple[str, Any, tuple[str, ...] | None]]] = {}

    def plan_for(serializer: Any, value: Any, shape: Any) -> list[tuple[str, Any, tuple[str, ...] | None]]:
        picker = serializer._value_picker
        transformed = [path.rsplit(".", 1)[-1] for path in picker.response_transformers]
        members: list[tuple[str, Any, tuple[str, ...] | None]] = []
        for member_key, member_shape in shape.members.items():
            member_shape.parent = shape
            context = AttributePickerContext(
                obj=value,
                key=member_key,
                shape=member_shape,
                operation_model=serializer.operation_model,
                service_model=serializer.operation_model.service_model,
                key_path="",
            )
            names = tuple(picker.get_possible_keys(context))
            moto_picks = any("." in name for name in names) or any(member_key.endswith(t) for t in transformed)
            members.append((member_key, member_shape, None if moto_picks else names))
        return members

    def picked(value: Any, names: tuple[str, ...]) -> Any:
        if hasattr(value, "__getitem__"):
            for name in names:
                try:
                    return value[name]
                except (KeyError, IndexError, TypeError, AttributeError):
                    continue
            return None
        for name in names:
            found = getattr(value, name, _MISSING)
            if found is not _MISSING:
                return found
        return None

    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        picker = self._value_picker
        if (
            value is None
            or shape.is_document_type
            or type(picker) is not XFormedAttributePicker
            or type(self)._serialize_structure_member is not ResponseSerializer._serialize_structure_member
            or type(self).get_value is not ResponseSerializer.get_value
            or "Meta" in getattr(value, "__dict__", ())
        ):
            return original(self, serialized, value, shape, key)
        plan_key = (type(value), id(picker.alias_providers), tuple(picker.response_transformers), shape)
        plan = plans.get(plan_key)
        if plan is None:
            plan = plans[plan_key] = plan_for(self, value, shape)
        wrapper = self.MAP_TYPE() if key else serialized
        for member_key, member_shape, names in plan:
            member_shape.parent = shape
            member_value = self.get_value(value, member_key, member_shape) if names is None else picked(value, names)
            if member_value is not None:
                self._serialize(wrapper, member_value, member_shape, member_key)
        if key:
            self._default_serialize(serialized, wrapper, shape, key)
        return None

    stack.enter_context(mock.patch.object(BaseJSONSerializer, "_serialize_type_structure", serialize_structure))


def memoized_update_expressions(stack: ExitStack) -> None:
    """moto parses an UpdateItem's expression twice per call (the call budget books a slot with one per ECS call).
    The tree is only read (find_clauses), or deep-copied before it is changed (the validator), so one parse per
    expression serves every call; an expression that fails to parse fails every time, as before."""
    original = UpdateExpressionParser.make.__func__  # type: ignore[attr-defined]
    known: dict[str, Any] = {}

    def make(cls: type, expression: str) -> Any:
        if expression not in known:
            known[expression] = original(cls, expression)
        return known[expression]

    stack.enter_context(mock.patch.object(UpdateExpressionParser, "make", classmethod(make)))


_LOADERS: dict[str | None, botocore.loaders.Loader] = {}
_LOADERS_LOCK = threading.Lock()


def shared_service_models(stack: ExitStack) -> None:
    """moto gives each world a new boto3 session, and each session's loader reads every service's model from disk
    again (its JSON parse is about a tenth of a short test's CPU). The models are only read, so one loader per data
    path serves every session in the process, as it already serves every client of one session."""

    def create_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        with _LOADERS_LOCK:
            if search_path_string not in _LOADERS:
                _LOADERS[search_path_string] = botocore.loaders.create_loader(search_path_string)
            return _LOADERS[search_path_string]

    stack.enter_context(mock.patch.object(botocore.session, "create_loader", create_loader))


_JSON_PATHS: dict[tuple[Callable[[str], Any], str], Any] = {}


def memoized_json_paths(stack: ExitStack) -> None:
    """moto's interpreter parses a state's JSONPath each time the state runs, and each parse builds a new parser
    (ply's tables: several hundred a short test). A parsed path is only read (find, update_or_create), so each path
    is parsed once per process, by the same parser as before (the extended one for InputPath and Parameters, the
    plain one for ResultPath)."""

    def memoized(parse: Callable[[str], Any]) -> Callable[[str], Any]:
        def parse_once(path: str) -> Any:
            key = (parse, path)
            if key not in _JSON_PATHS:
                _JSON_PATHS[key] = parse(path)
            return _JSON_PATHS[key]

        return parse_once

    stack.enter_context(mock.patch.object(json_path_module, "parse", memoized(jsonpath_ng.ext.parse)))
    stack.enter_context(mock.patch.object(result_path_module, "parse", memoized(jsonpath_ng.parse)))


def one_lambda_client_per_world(stack: ExitStack) -> None:
    """moto's interpreter makes a new boto3 client for every Lambda task it runs (tens of milliseconds each, a tenth
    of a rollover's CPU); one per region does the same calls (its config: no retries, no parameter validation)."""
    original = lambda_eval_utils.boto_client_for
    made: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        with lock:
            if (region, service) not in made:
                made[region, service] = original(region=region, service=service, state_credentials=state_credentials)
            return made[region, service]

    stack.enter_context(mock.patch.object(lambda_eval_utils, "boto_client_for", boto_client_for))


def execution_history_order(stack: ExitStack) -> None:
    """GetExecutionHistory as AWS answers it: newest first with `reverseOrder`, at most `maxResults` events (moto
    ignores both; `ecs-drain watch` reads the latest step's state that way)."""
    original = StepFunctionResponse.get_execution_history

    def get_execution_history(response: StepFunctionResponse) -> Any:
        result = original(response)
        events = list(result.result["events"])
        if response._get_param("reverseOrder"):
            events.reverse()
        size = response._get_param("maxResults") or 100
        return ActionResult({**result.result, "events": events[: int(size)]})

    stack.enter_context(mock.patch.object(StepFunctionResponse, "get_execution_history", get_execution_history))


# Step Functions' quota on a Standard execution's history (Step Functions developer guide, "Quotas": 25,000 events;
# the execution fails when it would exceed them). How AWS names that failure is not documented: this one fails as
# moto fails any error its interpreter did not expect, with States.Runtime.
HISTORY_EVENTS_LIMIT = 25_000


class HistoryLimitExceeded(RuntimeError):
    """The execution's history is full: nothing more may be written but its failure."""


def history_limit(stack: ExitStack) -> None:
    """An execution fails once its history holds HISTORY_EVENTS_LIMIT events, as AWS fails it (moto enforces no
    quota): any further event but the failure itself raises, and the interpreter ends the execution FAILED."""
    original = EventManager.add_event

    def add_event(manager: EventManager, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
        full = len(manager._history_event_list) >= HISTORY_EVENTS_LIMIT
        if full and event_type != HistoryEventType.ExecutionFailed:
            raise HistoryLimitExceeded(f"the execution's history holds {HISTORY_EVENTS_LIMIT:,} events")
        return int(original(manager, context, event_type, *args, **kwargs))

    stack.enter_context(mock.patch.object(EventManager, "add_event", add_event))


def step_functions_integration_names(stack: ExitStack) -> None:
    """A Task on `arn:aws:states:::states:startExecution` names its parameters as the API does (StateMachineArn,
    Name, Input) and reads its result so too (ExecutionArn, StartDate), as Step Functions' own integration does (its
    developer guide, "Start a new AWS Step Functions state machine from a running execution"). moto passes them to
    boto3 unchanged, which knows them as stateMachineArn..., and returns boto3's names: here they are translated
    both ways by the API's own model."""
    members = get_service_model("stepfunctions").operation_model("StartExecution")
    inputs = {name.lower(): name for name in members.input_shape.members}
    outputs = {name: name[0].upper() + name[1:] for name in members.output_shape.members}
    original_normalise = StateTaskServiceSfn._normalise_parameters
    original_response = StateTaskServiceSfn._normalise_response

    def normalise_parameters(task: StateTaskServiceSfn, parameters: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_normalise(task, parameters, *args, **kwargs)
        for name in list(parameters):
            parameters[inputs.get(name.lower(), name)] = parameters.pop(name)

    def normalise_response(task: StateTaskServiceSfn, response: Any, *args: Any, **kwargs: Any) -> None:
        original_response(task, response, *args, **kwargs)
        if isinstance(response, dict):
            for name in [n for n in response if n in outputs]:
                value = response.pop(name)
                response[outputs[name]] = value.isoformat() if hasattr(value, "isoformat") else value

    stack.enter_context(mock.patch.object(StateTaskServiceSfn, "_normalise_parameters", normalise_parameters))
    stack.enter_context(mock.patch.object(StateTaskServiceSfn, "_normalise_response", normalise_response))


def execution_endings(stack: ExitStack, ended: Callable[[Any], None]) -> None:
    """`ended(execution)` runs when a Step Functions execution ends, as an EventBridge status-change event would."""
    original = BaseExecutionWorkerCommunication.terminated

    def terminated(communication: BaseExecutionWorkerCommunication) -> None:
        original(communication)
        ended(communication.execution)

    stack.enter_context(mock.patch.object(BaseExecutionWorkerCommunication, "terminated", terminated))


@contextmanager
def request_dispatch(
    call_action: Callable[[BaseResponse], Any], ecs_actions: dict[str, Callable[[EC2ContainerServiceResponse], Any]]
) -> Iterator[None]:
    """Every AWS request goes through `call_action`; the named ECS actions answer from `ecs_actions`."""
    patches: list[Any] = [mock.patch.object(BaseResponse, "call_action", call_action)]
    for name, method in ecs_actions.items():
        patches.append(mock.patch.object(EC2ContainerServiceResponse, name, lambda r, m=method: m(r)))
    for patch in patches:
        patch.start()
    try:
        yield
    finally:
        for patch in reversed(patches):
            patch.stop()


@contextmanager
def service_intercept(host_prefix: str, answer: Callable[[str, dict[str, str]], Any]) -> Iterator[None]:
    """Requests to `https://<host_prefix>...` (a query-protocol service moto cannot load here: its CloudFormation
    imports every other backend, and one needs a package the lock leaves out) are answered by `answer(action,
    parameters)`, which returns (status, headers, body)."""
    original = BotocoreStubber.process_request

    def process_request(self: BotocoreStubber, request: AWSPreparedRequest) -> Any:
        if not request.url.startswith(f"https://{host_prefix}"):
            return original(self, request)
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        parameters = {k: v[0] for k, v in parse_qs(body).items()}
        return answer(parameters.pop("Action", ""), parameters)

    with mock.patch.object(BotocoreStubber, "process_request", process_request):
        yield


def serialized(service: str, action: str, result: dict[str, Any]) -> Any:
    """A result as the service's protocol puts it on the wire (moto's serializer, without its backend)."""
    model = get_service_model(service)
    serializer = get_serializer_class(service, model.protocol)(
        operation_model=model.operation_model(action), pretty_print=False, value_picker=XFormedAttributePicker()
    )
    out = serializer.serialize(result)
    return out["status_code"], out["headers"], out["body"]


@contextmanager
def fast_instance_lookup(account: str, region: str) -> Iterator[None]:
    """moto finds an EC2 instance by copying every reservation; registering 5,000 instances would take minutes."""
    backend = ec2_backends[account][region]
    original = backend.get_instance
    index: dict[str, Any] = {}

    def get_instance(instance_id: str) -> Any:
        if instance_id not in index:
            index.update({i.id: i for r in backend.reservations.values() for i in r.instances})
        return index[instance_id] if instance_id in index else original(instance_id)

    with mock.patch.object(backend, "get_instance", get_instance):
        yield


def run_plain_instances(account: str, region: str, image_id: str, instance_type: str, count: int) -> list[str]:
    """RunInstances on moto's EC2 backend itself, with the defaults its RunInstances response passes: the same
    instances, without serializing thousands of them to XML and parsing them back (most of the time making 4,000)."""
    backend = ec2_backends[account][region]
    defaults: dict[str, Any] = {
        "is_instance_type_default": False,
        "region_name": region,
        "security_group_ids": [],
        "nics": [],
        "tags": {},
        "ebs_optimized": False,
        "disable_api_stop": False,
        "instance_market_options": {},
        "launch_template": {},
        "hibernation_options": {},
        "monitoring_state": "disabled",
        "metadata_options": {},
        "client_token": "ABCDE",
    }
    reservation = backend.run_instances(image_id, count, None, [], instance_type=instance_type, **defaults)
    return [instance.id for instance in reservation.instances]
