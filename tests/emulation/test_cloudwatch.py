"""The CloudWatch alarm model on the handlers' EMF output, by hand."""

from __future__ import annotations

import json

from emulation.cloudwatch import MetricAlarm


def emf(value: float, **dimensions: str) -> str:
    directive = {"Namespace": "ECSDrain", "Dimensions": [sorted(dimensions)], "Metrics": [{"Name": "HookDrainBlocked"}]}
    return json.dumps(
        {"_aws": {"Timestamp": 0, "CloudWatchMetrics": [directive]}, **dimensions, "HookDrainBlocked": [value]}
    )


def test_it_goes_into_alarm_on_a_data_point_of_its_exact_dimensions_at_the_threshold_once() -> None:
    alarm = MetricAlarm("a", "ECSDrain", "HookDrainBlocked", {"AutoScalingGroupName": "asg", "service": "ecs-drain"})
    output = ["a log line\n", emf(0, AutoScalingGroupName="asg", service="ecs-drain") + "\n"]
    assert not alarm.evaluate(output) and alarm.state == "OK"  # 0 < 1
    output.append(emf(1, AutoScalingGroupName="asg") + "\n")  # another metric: its dimensions differ
    output.append(emf(1, AutoScalingGroupName="other", service="ecs-drain") + "\n")  # another group
    assert not alarm.evaluate(output)
    output.append(emf(1, AutoScalingGroupName="asg", service="ecs-drain") + "\n")
    assert alarm.evaluate(output) and alarm.state == "ALARM"
    output.append(emf(2, AutoScalingGroupName="asg", service="ecs-drain") + "\n")
    assert not alarm.evaluate(output)  # in ALARM already: no new transition
