"""ELBv2 records: a database written by minecs before typed records (documents in ELBv2's wire shape)
still reads, serves and accepts writes after the upgrade."""

from __future__ import annotations

from orchestrator.clock import FakeClock
from orchestrator.ids import CountingIds
from orchestrator.services.elbv2 import snapshot
from orchestrator.services.elbv2.records import Listener, LoadBalancer, Rule, TargetGroup
from orchestrator.services.elbv2.service import Elbv2
from orchestrator.store import Store

LB = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/old/1"
TG = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/old/2"
LS = "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/old/1/3"
RULE = "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/old/1/3/4"


def _legacy_store(path) -> Store:  # noqa: ANN001
    store = Store(path)
    store.put_lb("loadbalancer", LB, {"LoadBalancerArn": LB, "LoadBalancerName": "old", "DNSName": "old.minecs.local",
                                      "CreatedTime": 1.0, "Scheme": "internal"}, name="old", created_at=1.0)
    store.put_lb("targetgroup", TG, {
        "TargetGroupArn": TG, "TargetGroupName": "old", "Port": 8080, "HealthCheckPath": "/health",
        "HealthCheckPort": "traffic-port", "HealthCheckEnabled": True, "HealthCheckIntervalSeconds": 2,
        "HealthCheckTimeoutSeconds": 1, "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 3,
        "Matcher": {"HttpCode": "200-299"}, "LoadBalancerArns": [LB], "TargetType": "ip",
        "_attributes": {"deregistration_delay.timeout_seconds": "7"},
        "_targets": [{"Id": "127.0.0.1", "Port": 9000, "State": "registered"},
                     {"Id": "127.0.0.1", "Port": 9001, "State": "draining", "DrainUntil": 5.0}]},
        name="old", created_at=2.0)
    store.put_lb("listener", LS, {"ListenerArn": LS, "LoadBalancerArn": LB, "Port": 8000, "Protocol": "HTTP",
                                  "DefaultActions": [{"Type": "forward", "TargetGroupArn": TG}]},
                 parent=LB, created_at=3.0)
    store.put_lb("rule", RULE, {"RuleArn": RULE, "Priority": "10", "IsDefault": False,
                                "Conditions": [{"Field": "path-pattern", "Values": ["/api/*"]}],
                                "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}]},
                 parent=LS, created_at=4.0)
    return store


def test_a_database_of_wire_shaped_documents_reads_serves_and_writes(tmp_path) -> None:
    store = _legacy_store(tmp_path / "s.db")
    elb = Elbv2(store, FakeClock(), CountingIds())
    tg = elb.repo.get(TargetGroup, TG)
    assert (tg.port, tg.health.interval, tg.health.unhealthy_threshold, tg.health.matcher) == (8080, 2, 3, "200-299")
    assert tg.deregistration_delay == 7.0 and tg.attributes["load_balancing.algorithm.type"] == "round_robin"
    assert [(t.port, t.state, t.drain_until) for t in tg.targets] == [(9000, "registered", None), (9001, "draining", 5.0)]
    assert elb.repo.get(LoadBalancer, LB).scheme == "internal"
    assert elb.repo.get(Listener, LS).port == 8000
    rule = elb.repo.get(Rule, RULE)
    assert (rule.listener_arn, rule.priority) == (LS, 10)
    snap = snapshot.build(elb.repo)
    assert [r.priority for r in snap.load_balancers[0].listeners[0].rules] == [10, None]
    assert [(t.port) for t in snap.target_groups[0].targets] == [9000]
    elb.ops.register_targets(TG, [{"Id": "127.0.0.2", "Port": 9002}])  # a write stores the typed form
    assert [t.port for t in elb.repo.get(TargetGroup, TG).targets] == [9000, 9001, 9002]
    assert "arn" in store.get_lb_row(TG)[1]
    elb.ops.delete_load_balancer(LB)  # listener and rule go with it
    assert elb.repo.get(Listener, LS) is None and elb.repo.get(Rule, RULE) is None
    assert elb.repo.get(TargetGroup, TG).load_balancer_arns == []
    store.close()


def test_concurrent_writers_of_one_target_group_lose_nothing(tmp_path) -> None:
    """API threads, the ECS controller and housekeeping write the same target group at once: each
    read-modify-write is one transaction, so every registration and attribute change survives."""
    import threading
    store = Store(tmp_path / "c.db")
    elb = Elbv2(store, FakeClock(), CountingIds())
    tg = elb.ops.create_target_group("us-east-1", {"Name": "busy", "Port": 80})
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def register(worker: int) -> None:
        try:
            barrier.wait()
            for i in range(25):
                elb.ops.register_targets(tg.arn, [{"Id": "127.0.0.1", "Port": 10000 + worker * 100 + i}])
                if i % 5 == 0:
                    elb.ops.modify_target_group_attributes(tg.arn, [
                        {"Key": "deregistration_delay.timeout_seconds", "Value": str(worker)}])
                    elb.ops.expire_draining()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=register, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    got = elb.repo.get(TargetGroup, tg.arn)
    assert len(got.targets) == 8 * 25
    assert got.attributes["deregistration_delay.timeout_seconds"] in {str(w) for w in range(8)}
    store.close()


def test_a_listener_record_that_does_not_convert_leaves_the_others_served(tmp_path) -> None:
    """Records are checked before they are written; should one still be unreadable (an older minecs wrote
    it), the load balancer's configuration is built without it rather than not at all."""
    from orchestrator.services.elbv2.repo import Repo
    store = Store(tmp_path / "s.db")
    try:
        repo = Repo(store)
        fixed = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}]
        repo.put(LoadBalancer(arn="arn:lb", name="lb", dns_name="lb.local", created=0.0))
        repo.put(Listener(arn="arn:listener/good", load_balancer_arn="arn:lb", port=18081, created=0.0,
                          default_actions=fixed))
        repo.put(Listener(arn="arn:listener/bad", load_balancer_arn="arn:lb", port=18082, created=0.0,
                          default_actions=[]))  # what no check lets through today: no default action at all
        snap = snapshot.build(repo)
        assert [ls.arn for lb in snap.load_balancers for ls in lb.listeners] == ["arn:listener/good"]
    finally:
        store.close()
