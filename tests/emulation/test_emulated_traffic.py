"""The emulation's load balancer and traffic model, pinned on small hand-computed cases."""

from __future__ import annotations

from emulation.ecs_simulator import EcsSimulator, ServiceSpec
from emulation.traffic import Traffic
from tests.emulation.simulated import simulator


def web(deregistration_delay: float = 0.0) -> ServiceSpec:
    """One task behind a load balancer, healthy 10 s after it is placed (5 s start, 5 s health check)."""
    return ServiceSpec(
        "web",
        cpu=256,
        memory=256,
        desired=1,
        load_balanced=True,
        deregistration_delay=deregistration_delay,
        start_seconds=5.0,
        health_check_seconds=5.0,
        shutdown_seconds=1.0,
    )


def steady(sim: EcsSimulator, traffic: Traffic, spec: ServiceSpec) -> None:
    sim.traffic = traffic
    sim.add_service(spec)
    sim.clock.advance(20)  # healthy from t0 + 10
    traffic.count_from(sim.clock.now())  # from the steady state on


def test_it_fails_exactly_the_requests_in_flight_on_a_terminated_instance() -> None:
    with simulator() as (sim, ec2_ids):
        instance = sim.register_instance(ec2_ids[0])
        # 10 requests a second, each 0.3 s: 3 are in flight at any moment.
        traffic = Traffic(rate=10, durations=((0.3, 1.0),))
        steady(sim, traffic, web())
        sim.clock.advance(1)  # what is in flight from now on arrived while requests were counted
        assert traffic.total_failed == 0
        sim.terminate_instance(instance)
        assert traffic.failed == {"killed_with_instance": 3}
        sim.clock.advance(1)  # no target left: each arrival fails
        assert traffic.failed == {"killed_with_instance": 3, "no_healthy_target": 10}


def test_it_sends_no_new_request_to_a_draining_target_and_lets_those_in_flight_finish() -> None:
    with simulator() as (sim, ec2_ids):
        first = sim.register_instance(ec2_ids[0])
        traffic = Traffic(rate=10, durations=((5.0, 1.0),))  # 50 in flight at any moment
        steady(sim, traffic, web(deregistration_delay=10))
        sim.register_instance(ec2_ids[1])
        sim.backend.container_instances["web"][first].status = "DRAINING"
        sim.instances_changed()  # a replacement starts on the new instance, healthy 10 s later
        sim.clock.advance(60)
        old = next(t for t in sim.tasks.values() if t.instance_id == first)
        assert old.last == "STOPPED"
        # The old target drains only once its replacement is healthy: 60 s of arrivals, nothing lost on the way.
        assert traffic.total_failed == 0 and traffic.requests == 600


def test_it_kills_what_is_still_in_flight_at_the_stop_timeout() -> None:
    with simulator() as (sim, ec2_ids):
        sim.register_instance(ec2_ids[0])
        traffic = Traffic(rate=10, durations=((60.0, 1.0),))  # requests of a minute
        steady(sim, traffic, web())  # no deregistration delay: SIGTERM at once
        sim.clock.advance(100)  # 90 s healthy: 600 requests in flight
        (task,) = sim.service_tasks("web")
        sim.stop(task.arn, "test")
        sim.clock.advance(40)
        # SIGKILL 30 s after SIGTERM: the 300 that arrived in the last 30 s before it had not finished.
        assert traffic.failed["killed_at_stop_timeout"] == 300


def test_it_counts_as_failed_only_requests_it_counted_as_arrived() -> None:
    with simulator() as (sim, ec2_ids):
        instance = sim.register_instance(ec2_ids[0])
        # 10 requests a second, each 5 s: 50 in flight at any moment. Counting begins 2 s before the instance is
        # terminated: of the 50 in flight then, the 20 that arrived in those 2 s are counted, and only they fail.
        traffic = Traffic(rate=10, durations=((5.0, 1.0),))
        sim.traffic = traffic
        sim.add_service(web())
        sim.clock.advance(30)
        traffic.count_from(sim.clock.now())
        sim.clock.advance(2)
        sim.terminate_instance(instance)
        assert traffic.requests == 20
        assert traffic.failed == {"killed_with_instance": 20}
