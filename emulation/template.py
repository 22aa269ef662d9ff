"""Reads the real template.yaml: functions, their handlers and environment, the ASL and its substitutions."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !Sub, !GetAtt...)."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 (a SafeLoader subclass)


@dataclass
class Stack:
    """The values intrinsic functions resolve to in the emulated stack."""

    name: str
    region: str
    account: str
    refs: dict[str, str]  # logical id -> Ref value (a CommaDelimitedList parameter's: its text, commas and all)
    attributes: dict[tuple[str, str], str]  # (logical id, attribute) -> GetAtt value
    conditions: dict[str, Any] = field(default_factory=dict)  # the template's Conditions, unresolved
    lists: frozenset[str] = frozenset()  # the CommaDelimitedList parameters: their Ref is a list

    @classmethod
    def deployed(
        cls, template: dict[str, Any], parameters: dict[str, str], name: str, region: str, account: str
    ) -> Stack:
        """The stack `template` makes with these parameter values (the others at their Default)."""
        declared = template.get("Parameters", {})
        refs = {n: str(p.get("Default", "")) for n, p in declared.items()} | parameters
        lists = frozenset(n for n, p in declared.items() if p.get("Type") == "CommaDelimitedList")
        return cls(name, region, account, refs, {}, template.get("Conditions", {}), lists)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                if arg == "AWS::NoValue":
                    return None
                return self.refs[arg].split(",") if arg in self.lists else self._ref(arg)
            if key == "Fn::Join":
                return str(arg[0]).join(str(v) for v in self.resolve(arg[1]))
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(str(arg[0]))
            if key == "Fn::If":
                condition, when_true, when_false = arg
                return self.resolve(when_true if self.holds(condition) else when_false)
            if key == "Fn::Equals":
                return str(self.resolve(arg[0])) == str(self.resolve(arg[1]))
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::GetAtt":
                return self.attributes[(arg[0], arg[1])]
            if key == "Fn::Sub":
                text, names = (arg[0], self.resolve(arg[1])) if isinstance(arg, list) else (arg, {})
                return re.sub(r"\$\{([^}]+)\}", lambda m: names.get(m.group(1)) or self._sub(m.group(1)), text)
        if isinstance(value, dict):  # a property that resolves to AWS::NoValue is left out, as CloudFormation does
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not None}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def holds(self, condition: str) -> bool:
        return bool(self.resolve(self.conditions[condition]))

    def _sub(self, name: str) -> str:
        if "." in name:
            logical, attribute = name.split(".", 1)
            return self.attributes[(logical, attribute)]
        return self._ref(name)

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::StackName": self.name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
        }
        return pseudo.get(name) or self.refs[name]


@dataclass
class Function:
    logical_id: str
    handler: str
    timeout: int
    environment: dict[str, Any]
    reserved_concurrency: Any = None  # ReservedConcurrentExecutions as written (resolved at deployment)
    published: bool = False  # AutoPublishAlias: each deployment publishes a version (`!Ref <id>.Version`)


def functions(template: dict[str, Any]) -> list[Function]:
    globals_ = template.get("Globals", {}).get("Function", {})
    out = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        environment = {
            **globals_.get("Environment", {}).get("Variables", {}),
            **props.get("Environment", {}).get("Variables", {}),
        }
        out.append(
            Function(
                logical_id,
                props["Handler"],
                int(props.get("Timeout", 3)),
                environment,
                props.get("ReservedConcurrentExecutions"),
                "AutoPublishAlias" in props,
            )
        )
    return out


def tables(template: dict[str, Any], stack: Stack) -> list[tuple[str, dict[str, Any]]]:
    """(logical id, properties) of every DynamoDB table the stack creates (its Condition, if any, holding)."""
    return [
        (k, r["Properties"])
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::DynamoDB::Table" and ("Condition" not in r or stack.holds(r["Condition"]))
    ]


def outputs(template: dict[str, Any], stack: Stack) -> dict[str, str]:
    """Output key -> value of the stack's outputs, as DescribeStacks gives them."""
    return {key: str(stack.resolve(o["Value"])) for key, o in template.get("Outputs", {}).items()}


def exports(template: dict[str, Any], stack: Stack) -> dict[str, str]:
    """Export name -> value of the stack's outputs."""
    return {
        str(stack.resolve(o["Export"]["Name"])): str(stack.resolve(o["Value"]))
        for o in template.get("Outputs", {}).values()
        if "Export" in o
    }


def state_machine(template: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(logical id, properties, the ASL document) of the drain state machine."""
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::StateMachine":
            props = resource["Properties"]
            return logical_id, props, json.loads((ROOT / props["DefinitionUri"]).read_text())
    raise LookupError("template.yaml has no AWS::Serverless::StateMachine")


def substitute(definition: dict[str, Any], substitutions: dict[str, str]) -> str:
    """Apply DefinitionSubstitutions as Step Functions does; an undefined one is an error, not a silent gap."""
    text = json.dumps(definition)
    missing = sorted(set(re.findall(r"\$\{([^}]+)\}", text)) - set(substitutions))
    if missing:
        raise KeyError(f"The ASL uses substitutions the template does not define: {missing}")
    return re.sub(r"\$\{([^}]+)\}", lambda m: substitutions[m.group(1)], text)


def execution_ended_patterns(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(function logical id, EventBridge pattern) for every EventBridgeRule event of Step Functions' in the
    template."""
    return [
        (fid, rule["Pattern"])
        for fid, _event, rule in _event_rules(template)
        if "aws.states" in rule["Pattern"]["source"]
    ]


@dataclass
class BusRule:
    """An EventBridgeRule event of ECS's or Auto Scaling's in the template: its function, name (as written, or as SAM
    names a rule without one), pattern and state."""

    function: str
    name: Any
    pattern: dict[str, Any]
    state: str

    @property
    def source(self) -> str:
        return str(self.pattern["source"][0])


BUS_SOURCES = ("aws.ecs", "aws.autoscaling")


def bus_rules(template: dict[str, Any]) -> list[BusRule]:
    return [
        BusRule(fid, rule.get("RuleName", f"{fid}{event}"), rule["Pattern"], rule.get("State", "ENABLED"))
        for fid, event, rule in _event_rules(template)
        if set(rule["Pattern"]["source"]) & set(BUS_SOURCES)
    ]


@dataclass
class ScheduleRule:
    """A Schedule event in the template: its function, rule name, period and state."""

    function: str
    name: Any
    every_seconds: float
    state: str
    expression: str = ""


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours)\)$")


def schedule_rules(template: dict[str, Any]) -> list[ScheduleRule]:
    """Every Schedule event (rate expressions only: the template uses no other)."""
    rules = []
    for logical_id, resource in template["Resources"].items():
        for event_name, event in resource.get("Properties", {}).get("Events", {}).items():
            if event.get("Type") != "Schedule":
                continue
            props = event["Properties"]
            rate = _RATE.match(props["Schedule"])
            if rate is None:
                raise ValueError(f"{logical_id}.{event_name}: only rate(N minutes|hours) is emulated")
            every = int(rate.group(1)) * (60 if rate.group(2).startswith("minute") else 3600)
            name = props.get("Name", f"{logical_id}{event_name}")
            state = props.get("State", "ENABLED")
            rules.append(ScheduleRule(logical_id, name, float(every), state, props["Schedule"]))
    return rules


def _event_rules(template: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(function logical id, event name, the event's properties) of every EventBridgeRule event."""
    out = []
    for logical_id, resource in template["Resources"].items():
        for event_name, event in resource.get("Properties", {}).get("Events", {}).items():
            if event.get("Type") == "EventBridgeRule":
                out.append((logical_id, event_name, event["Properties"]))
    return out
