"""A launch hook's check: the preflight of an in-place change, one batch of new instances at a time.

The instances the group's launch hook holds (Pending:Wait) that launched together are gathered; each look reads
them: listed, registered, ACTIVE with the agent connected, running a task of every daemon service (the preflight's
readiness). Once ready, the replica services with tasks on the group's other instances are judged on them as ECS
would place them (decisions/launch_rules.py). Until PreflightTimeoutSeconds it waits; the verdict completes the
lifecycle actions (CONTINUE, or ABANDON: the group terminates them). Nothing is changed in the account: it only reads.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..aws import ecs_calls as calls
from ..aws.ecs_calls import ServiceView
from ..aws.targets import ec2_instance_ids
from ..decisions import reason, rule
from ..decisions.claims import CLAIM_MARGIN_SECONDS, Claim
from ..decisions.launch_rules import ServiceOnGroup, launch_findings, launch_verdict
from ..decisions.properties import DrainProperties
from ..model.state import PREFLIGHT_FINAL_PHASES, PreflightState
from .preflight import readiness
from .room import claim_room, release_room

if TYPE_CHECKING:
    from ..aws.clients import Clients


def new_check(new: DrainProperties, group: str, now: float, requested_at: float | None) -> PreflightState:
    """The check's first state: a preflight of the batch's instances, against the group they join."""
    return rule.new_preflight(new, group_properties(new, group), now, requested_at)


def group_properties(new: DrainProperties, group: str) -> DrainProperties:
    return replace(new, target_kind="AutoScalingGroup", target=(group,))


def check(state: PreflightState, new: DrainProperties, group: str, clients: Clients, now: float) -> PreflightState:
    """One look, then the verdict (rule.decide_preflight), said as a launch hook's. From the first look to the
    verdict the batch's instances are undecided capacity in the cluster's room book: no drain counts them as room
    before they pass (decisions/claims.py)."""
    claim = batch_claim(state, new, group)
    if not state["checks"]:
        claim_room(clients, new.cluster_name, claim, now)
    decided = launch_verdict(rule.decide_preflight(state, observe(new, group, clients, now), new), group)
    if decided["phase"] in PREFLIGHT_FINAL_PHASES:
        release_room(clients, new.cluster_name, claim.key)
    return decided


def batch_claim(state: PreflightState, new: DrainProperties, group: str) -> Claim:
    """The batch's claim: its instances undecided, no task of its own."""
    batch = sorted(new.target)
    return Claim(
        key=f"launch check of AutoScalingGroup {group}: {batch[0]}",
        by=reason.launch_claim(group, len(batch)),
        leaving=frozenset(),
        undecided=frozenset(batch),
        groups=(),
        expires_at=state["deadline"] + CLAIM_MARGIN_SECONDS,
    )


def give_up(state: PreflightState, error: Exception, group: str) -> PreflightState:
    """The deadline came while the check's steps kept failing (our trouble): nothing was judged, and the Reason says
    so rather than what the last look was waiting for."""
    gave_up = rule.give_up_preflight(state, error)
    gave_up["waitingFor"] = []
    return launch_verdict(gave_up, group)


def observe(new: DrainProperties, group: str, clients: Clients, now: float) -> rule.PreflightSnapshot:
    """The batch's instances; once they are ready, whether ECS would place the group's service tasks on them."""
    services = calls.describe_services(clients.ecs, new.cluster)
    batch = list(new.target)
    instances, waiting_for, ready = readiness(new, batch, clients, services)
    if waiting_for:
        return rule.PreflightSnapshot(now, instances, tuple(waiting_for))
    others = [i for i in ec2_instance_ids(group_properties(new, group), clients) or [] if i not in set(batch)]
    on_group = services_on(clients, new.cluster, others, services)
    return rule.PreflightSnapshot(now, instances, (), tuple(launch_findings(on_group, list(ready.values()))))


def services_on(
    clients: Clients, cluster: str, ec2_ids: list[str], services: list[ServiceView]
) -> list[ServiceOnGroup]:
    """The replica services with tasks on these instances: what a task needs, how many run there, and on which."""
    ecs = clients.ecs
    ids = calls.container_instance_ids(ecs, cluster, ec2_ids) if ec2_ids else []
    hosts, _ = calls.describe_instances(ecs, cluster, ids) if ids else ({}, set())
    definitions, found = calls.TaskDefinitions(ecs), []
    for service in (s for s in services if not s.daemon and s.running + s.pending):
        homes = [h for h in calls.service_task_homes(ecs, cluster, service.name).values() if h in hosts]
        if not homes:
            continue
        needs = definitions.needs(service.task_definition)
        needs = needs.for_service(service.name, service.placement_constraints, service.capacity_providers)
        found.append(ServiceOnGroup(needs, len(homes), tuple(hosts[h] for h in sorted(set(homes)))))
    return found
