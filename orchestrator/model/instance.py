"""Container instances (EC2 hosts run by ``minecs agent``) as minecs records them."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_RESERVED_PORTS = (22, 2375, 2376, 51678, 51679)  # the ECS agent's ECS_RESERVED_PORTS default
AGENT_TIMEOUT = 6.0  # seconds without a poll before an agent counts as disconnected
LOST_HOST_GRACE = 10.0  # seconds an agent may stay disconnected before its tasks count as lost
HOST_IP_ATTRIBUTE = "minecs.host-ip"  # the loopback address the host publishes ports on


@dataclass
class InstanceRecord:
    instance_id: str  # 32 hex, the ID in the container-instance ARN
    cluster: str
    status: str  # ACTIVE | DRAINING | INACTIVE
    cpu: int
    memory: int
    registered_at: float
    last_seen: float
    ec2_instance_id: str
    host_ip: str = "127.0.0.1"
    reserved_tcp: list[int] = field(default_factory=lambda: list(DEFAULT_RESERVED_PORTS))
    reserved_udp: list[int] = field(default_factory=list)
    attributes: dict[str, str | None] = field(default_factory=dict)  # built-in + custom (PutAttributes)
    custom_attributes: list[str] = field(default_factory=list)  # names set through PutAttributes
    agent_version: str = "1.0.0"
    agent_hash: str = "minecs"
    docker_version: str = ""
    version: int = 1
    status_reason: str | None = None
    lost: bool = False  # its tasks were declared lost after LOST_HOST_GRACE

    def connected(self, now: float) -> bool:
        return self.status != "INACTIVE" and now - self.last_seen <= AGENT_TIMEOUT
