"""The scenarios `make demo` and the traffic benchmark run, by name: the world, the drain's policy, the traffic."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .ecs_simulator import ServiceSpec
from .scenarios import NEW_PROVIDER, OLD_PROVIDER, default_services, pinned_services
from .traffic import Traffic

# What an agent registers when it can read Secrets Manager secrets into a container's environment.
SECRETS_CAPABILITY = "ecs.capability.secrets.asm.environment-variables"


LONG_WINDOW = 190.0  # minutes: 3 x 60 minutes of CloudFormation waiting for a Delete, then 10 more


@dataclass(frozen=True)
class Scenario:
    about: str
    policy: dict[str, str]  # the Custom::ECSDrain properties the rollover sets
    options: dict[str, Any]  # rollover_world's, with "services" named (see SERVICES)
    throttle_share: float = 0.0  # a named fault: this share of the drain's ECS calls throttled
    traffic: dict[str, Any] = field(default_factory=dict)  # Traffic's, beyond its defaults
    # What the stack update does: "rollover" (a new fleet), "remove" (the resource goes), "shared" (this stack and
    # another whose old fleet shares the cluster, `others[0]`, replace their fleets at once: see `second`).
    operation: str = "rollover"
    second: tuple[int, tuple[int, int]] | None = None  # "shared": the other stack's new fleet: instances, size
    # How long requests are counted, from the stack update, the same for every strategy: long enough for every
    # strategy's end and 5 minutes after. LONG_WINDOW where one of them waits out CloudFormation's three hour-long
    # tries of the Delete (seed, whose Lambda dies without answering, or a drain that cannot finish).
    window_minutes: float = 15.0


SCENARIOS: dict[str, Scenario] = {
    "rollover": Scenario("A new Spot Fleet comes up and registers; the old one is drained, then deleted.", {}, {}),
    "no-capacity": Scenario(
        "The new fleet never registers and the preflight is off, so the drain meets it in the cleanup: nothing is set "
        "DRAINING; at the deadline OnTimeout=FAIL answers FAILED, and CloudFormation tries the Delete three times "
        "before it skips it and its cleanup goes on (bad-ami: the same fleet, with the preflight).",
        {"DrainTimeoutSeconds": "600", "OnTimeout": "FAIL", "Preflight": "OFF"},
        {"new_fleet_fault": "agent"},
        window_minutes=LONG_WINDOW,
    ),
    "standalone-wait": Scenario(
        "A standalone job runs on an old instance; StandaloneTasks=WAIT waits for it to finish (15 min).",
        {"StandaloneTasks": "WAIT"},
        {"standalone": [(0, 900.0)]},
        window_minutes=LONG_WINDOW,
    ),
    "standalone-stop": Scenario(
        "A standalone job that never ends; StandaloneTasks=STOP stops it once draining begins.",
        {"StandaloneTasks": "STOP"},
        {"standalone": [(0, None)]},
        window_minutes=LONG_WINDOW,
    ),
    "deadline-continue": Scenario(
        "A job outlives the 10-minute deadline; OnTimeout=CONTINUE answers SUCCESS and names what still runs.",
        {"DrainTimeoutSeconds": "600", "OnTimeout": "CONTINUE"},
        {"standalone": [(1, None)]},
        window_minutes=LONG_WINDOW,
    ),
    "deadline-fail": Scenario(
        "A job outlives the 10-minute deadline; OnTimeout=FAIL answers FAILED; CloudFormation tries the Delete three "
        "times (three drains), then skips it and its cleanup goes on.",
        {"DrainTimeoutSeconds": "600", "OnTimeout": "FAIL"},
        {"standalone": [(1, None)]},
        window_minutes=LONG_WINDOW,
    ),
    "blocked": Scenario(
        "Service `pinned` has minimumHealthyPercent 100 and maximumPercent 100: ECS can never move its tasks. The "
        "preflight fails the Update at once, naming it, and CloudFormation rolls back. With the preflight off, the "
        "drain says so at once, answers once the other services have left (BlockedTimeoutSeconds=60, OnTimeout=FAIL),"
        " and answers CloudFormation's two retries at once.",
        {"BlockedTimeoutSeconds": "60", "OnTimeout": "FAIL"},
        {"services": "pinned"},
        window_minutes=LONG_WINDOW,
    ),
    "bad-ami": Scenario(
        "The new fleet's AMI breaks the ECS agent: its instances run but never register. The preflight waits out its "
        "15 minutes, fails the Update naming the instances, and CloudFormation rolls back to the old fleet.",
        {},
        {"new_fleet_fault": "agent"},
        window_minutes=LONG_WINDOW,
    ),
    "small-fleet": Scenario(
        "The new fleet's instances are too small (1024 CPU units, 2048 MiB) for the old fleet's tasks: the preflight "
        "places them task by task, fails the Update naming the service and the missing CPU, and CloudFormation rolls "
        "back.",
        {},
        {"new_instance_size": (1024, 2048)},
        window_minutes=LONG_WINDOW,
    ),
    "constraints": Scenario(
        "Services placed by memberOf: `web` on instance types =~ c5.*, `worker` in a list of Availability Zones, "
        "`cache` only beside `web` (task:group == service:web). The new fleet meets them all: the preflight places "
        "the old tasks task by task, passes, and the old fleet is drained.",
        {},
        {"services": "constraints"},
    ),
    "graviton": Scenario(
        "The new fleet is Graviton (m7g.large, arm64) under task definitions whose runtimePlatform says X86_64: the "
        "preflight names the services and cpuArchitecture, and CloudFormation rolls back.",
        {},
        {"services": "x86", "new_instance_type": "m7g.large"},
        window_minutes=LONG_WINDOW,
    ),
    "eni": Scenario(
        "awsvpc services (each task takes a network interface) move from m5.xlarge (3 tasks each: 4 interfaces, the "
        "primary counts) to c5.large (2 each), with CPU and memory to spare: the preflight finds 9 tasks for 6 "
        "interfaces, names them, and CloudFormation rolls back.",
        {},
        {"services": "awsvpc", "old_instance_type": "m5.xlarge", "new_instance_type": "c5.large"},
        window_minutes=LONG_WINDOW,
    ),
    "missing-attribute": Scenario(
        "The new AMI's ECS agent does not register ecs.capability.secrets.asm.environment-variables, which `web`'s "
        "task definition requires (it reads a secret into its environment): the preflight names the attribute, and "
        "CloudFormation rolls back.",
        {},
        {"services": "secrets", "new_missing_capabilities": frozenset({SECRETS_CAPABILITY})},
        window_minutes=LONG_WINDOW,
    ),
    "scaling": Scenario(
        "The services place through capacity providers; the new Auto Scaling group starts with one instance, too few "
        "for the old tasks, and managed scaling grows it (up to three) while they wait. The preflight finds the room "
        "that scaling out brings (a finding, not a failure), passes, and the drain waits while ECS scales it out.",
        {},
        {
            "services": "providers",
            "kind": "AutoScalingGroup",
            "new_instances": 1,
            "new_fleet_max": 3,
            "new_fleet_registers": (45.0, 45.0),
            "capacity_providers": True,
        },
    ),
    "remove": Scenario(
        "The Custom::ECSDrain is removed from the template and the fleet kept: its Delete finds the fleet still in "
        "the stack and drains nothing (no other capacity: a drain would wait for it to its deadline).",
        {},
        {"new_instances": 0},
        operation="remove",
        window_minutes=LONG_WINDOW,
    ),
    "shared-cluster": Scenario(
        "Two stacks whose fleets share the cluster (3 instances each, `web` on both) replace them at once, as one AMI "
        "change does. Stack A's new fleet holds A's tasks; B's (one instance of half the size) cannot hold B's, and "
        "only A's fleets could: the preflight counts neither another rollover's old fleet nor its new one, so B rolls "
        "back naming A, and A drains. (The picture shows A's fleets; B's new instance is among the new ones, "
        "deleted by B's rollback.)",
        {},
        {"services": "shared", "other_old_fleets": 1, "new_fleet_registers": (45.0, 60.0)},
        operation="shared",
        second=(1, (1024, 1920)),
        window_minutes=LONG_WINDOW,
    ),
    "throttling": Scenario(
        "Half of all ECS calls are throttled; the SDK and the state machine retry.", {}, {}, throttle_share=0.5
    ),
    "big": Scenario(
        "A 100-instance fleet replaced by another, 5 services, two behind load balancers.",
        {},
        {"old_instances": 100, "new_instances": 100, "services": "big"},
    ),
    "min-zero": Scenario(
        "Service `solo` runs one task with minimumHealthyPercent 0: even a correct drain takes it offline until its "
        "replacement is healthy. The drain's summary and Reason name it.",
        {},
        {"services": "min-zero"},
    ),
    "long-requests": Scenario(
        "Requests of up to 20 s behind a 5 s deregistration delay: the last ones finish after SIGTERM, within the "
        "30 s stop timeout, if the instance is still there.",
        {},
        {"services": "long-requests"},
    ),
}

# The scenarios whose traffic `make bench` measures per strategy (benchmarks/traffic.json).
TRAFFIC_SCENARIOS = (
    "rollover",
    "big",
    "min-zero",
    "long-requests",
    "deadline-continue",
    "bad-ami",
    "small-fleet",
    "blocked",
    "remove",
    "constraints",
    "graviton",
    "eni",
    "missing-attribute",
    "scaling",
    "shared-cluster",
)


def big_services() -> list[ServiceSpec]:
    return [
        *default_services(),
        ServiceSpec("api", cpu=512, memory=1024, desired=100, deregistration_delay=60, load_balanced=True),
        ServiceSpec("search", cpu=1024, memory=1536, desired=50, min_healthy_percent=50, max_percent=100),
    ]


def min_zero_services() -> list[ServiceSpec]:
    solo = ServiceSpec(
        "solo", cpu=256, memory=256, desired=1, min_healthy_percent=0, max_percent=100, load_balanced=True
    )
    return [*default_services(), solo]


def long_request_services() -> list[ServiceSpec]:
    services = default_services()
    services[0].deregistration_delay = 5
    return services


def constraint_services() -> list[ServiceSpec]:
    web, worker, daemon = default_services()
    web.placement_constraints = [{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ c5.*"}]
    zones = "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]"
    worker.placement_constraints = [{"type": "memberOf", "expression": zones}]
    cache = ServiceSpec("cache", cpu=128, memory=256, desired=3, min_healthy_percent=50, start_seconds=10)
    cache.placement_constraints = [{"type": "memberOf", "expression": "task:group == service:web"}]
    return [web, worker, cache, daemon]


def x86_services() -> list[ServiceSpec]:
    services = default_services()
    for spec in services:
        if not spec.daemon:  # the log shipper's image is multi-architecture; the applications' are not
            spec.cpu_architecture = "X86_64"
    return services


def awsvpc_services() -> list[ServiceSpec]:
    services = default_services()
    for spec in services:
        spec.awsvpc = not spec.daemon
    return services


def secrets_services() -> list[ServiceSpec]:
    services = default_services()
    services[0].requires_attributes = [SECRETS_CAPABILITY]
    return services


def provider_services() -> list[ServiceSpec]:
    services = default_services()
    for spec in services:
        if not spec.daemon:  # a daemon runs on every instance, whatever its provider
            spec.capacity_providers = [OLD_PROVIDER, NEW_PROVIDER]
    return services


def shared_services() -> list[ServiceSpec]:
    """One load-balanced service spread over both stacks' fleets (16 tasks of 512 CPU units: 4 an instance)."""
    web = ServiceSpec(
        "web", cpu=512, memory=512, desired=16, min_healthy_percent=50, deregistration_delay=30, load_balanced=True
    )
    return [web, ServiceSpec("log-agent", cpu=128, memory=128, daemon=True)]


SERVICES = {
    "shared": shared_services,
    "providers": provider_services,
    "constraints": constraint_services,
    "x86": x86_services,
    "awsvpc": awsvpc_services,
    "secrets": secrets_services,
    "big": big_services,
    "pinned": pinned_services,
    "min-zero": min_zero_services,
    "long-requests": long_request_services,
}


def world_options(scenario: Scenario) -> dict[str, Any]:
    """rollover_world's options for a scenario, its services made and its traffic set up."""
    options = dict(scenario.options)
    if "services" in options:
        options["services"] = SERVICES[options["services"]]()
    options["traffic"] = Traffic(**scenario.traffic)
    return options
