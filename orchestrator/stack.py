"""Stacks: one YAML document declaring task definitions, target groups, load balancers (listeners,
rules) and services, which ``minecs apply -f STACK.yaml`` converges the control plane to.

This module is PURE (no I/O) and composes each service's part: ECS's (``services/ecs/stack.py``: task
definitions, services) and ELBv2's (``services/elbv2/stack.py``: target groups, load balancers), on the
kernel in ``platform/stacks.py``. ``parse_stack`` turns a document into typed objects, reporting every
problem with its path (``services[1].desiredCount: must be an integer``); ``compute_plan`` compares a
stack with the current state (plain data the CLI fetched through the API, see ``State``) and asks each
service for its changes, in the order they must be applied. ``orchestrator/cli/commands/apply.py``
fetches the state, prints the plan and executes it.

The stack format
----------------

Every top-level key is optional; resources refer to each other **by name**, resolved to ARNs at apply
time::

    cluster: default                 # the cluster of the services (default: default)

    taskDefinitions:                 # RegisterTaskDefinition documents, exactly as for
      - family: web                  #   `minecs register-task-definition` (JSON or YAML)
        networkMode: awsvpc
        requiresCompatibilities: [FARGATE]
        cpu: "256"
        memory: "512"
        containerDefinitions:
          - {name: web, image: minecs/web:latest, portMappings: [{containerPort: 80}]}

    targetGroups:
      - name: web                    # 1-32 letters, digits, hyphens
        port: 80                     # default 80; cannot change once created
        healthCheck:                 # every member optional; ELBv2's defaults otherwise
          path: /health              # "/"
          port: traffic-port         # "traffic-port"
          intervalSeconds: 5         # 30
          timeoutSeconds: 2          # min(5, intervalSeconds - 1)
          healthyThreshold: 2        # 5
          unhealthyThreshold: 2      # 2
          matcher: "200-299"         # "200"
          enabled: true              # true
        deregistrationDelay: 5       # seconds, 300
        algorithm: round_robin       # or least_outstanding_requests

    loadBalancers:
      - name: demo
        listeners:                   # one port each (ports are unique across all load balancers)
          - port: 8000
            defaultAction: {fixedResponse: {statusCode: 404, body: "no route"}}
            rules:                   # by priority; conditions are ANDed, the values of one ORed
              - priority: 10
                pathPatterns: ["/api/users*"]
                # also: hostHeaders: [...], methods: [GET], sourceIps: [10.0.0.0/8],
                #       httpHeaders: [{name: X-Env, values: [blue]}],
                #       queryStrings: [{key: version, value: v2}]
                forward: [{targetGroup: web, weight: 1}]    # or just: forward: web
                stickiness: 300      # optional (forward only): keep a client on its target group, seconds

    services:
      - name: web
        taskDefinition: web          # a family (its latest revision) or family:revision
        desiredCount: 2
        launchType: FARGATE          # optional; cannot change once created
        loadBalancers: [{targetGroup: web, containerName: web, containerPort: 80}]
        deploymentConfiguration:     # ECS's defaults for what is left out
          minimumHealthyPercent: 100
          maximumPercent: 200
          deploymentCircuitBreaker: {enable: true, rollback: true}
        healthCheckGracePeriodSeconds: 10        # optional
        enableExecuteCommand: true   # optional (false): allow minecs execute-command into new tasks
        networkConfiguration: {awsvpcConfiguration: {subnets: [blue]}}   # optional
        placementConstraints: [...]  # optional, passed as is
        placementStrategy: [...]     # optional, passed as is

An action (``defaultAction``, or inline in a rule) is exactly one of ``forward`` (a target group name, or a
list of ``{targetGroup, weight}``), ``fixedResponse`` (``{statusCode, body, contentType}``; contentType
defaults to text/plain) or ``redirect`` (``{statusCode: 301|302, protocol, host, port, path, query}``, ALB
placeholders such as ``#{host}`` allowed; statusCode defaults to 301).

What apply does, in this order: registers a new revision of a task definition only when its normalized
document differs from the latest ACTIVE revision (server fields and tags ignored); creates target groups,
or modifies their health check and attributes; creates load balancers; creates listeners (by port) and
modifies a listener whose default action differs (ModifyListener: its port stays open, its rules stay);
creates rules, modifies those whose conditions or action differ; creates services, or updates their
desiredCount / taskDefinition / deploymentConfiguration / loadBalancers / enableExecuteCommand (and
healthCheckGracePeriodSeconds, networkConfiguration, placement when declared). Settings left out take their
defaults, so removing a line reverts it. Nothing is deleted unless ``--prune`` is given, and then only the listeners and rules of the
stack's load balancers that the stack does not declare; task definitions, target groups, load balancers and
services that are not in the stack are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.platform.stacks import Change, Draft, Parser, Plan, StackError, diff
from orchestrator.services.ecs import stack as ecs
from orchestrator.services.ecs.stack import Service, TaskDefinition, strip_server_fields
from orchestrator.services.elbv2 import stack as elbv2
from orchestrator.services.elbv2.stack import (Action, Condition, Listener, LoadBalancer, Rule, TargetGroup,
                                               action_from_elb, conditions_from_elb)

__all__ = ["Action", "Change", "Condition", "Listener", "LoadBalancer", "Plan", "Rule", "Service", "Stack",
           "StackError", "State", "TargetGroup", "TaskDefinition", "action_from_elb", "compute_plan",
           "conditions_from_elb", "diff", "parse_stack", "parse_stack_text", "strip_server_fields"]


@dataclass(frozen=True)
class Stack:
    cluster: str | None
    task_definitions: tuple[TaskDefinition, ...]
    target_groups: tuple[TargetGroup, ...]
    load_balancers: tuple[LoadBalancer, ...]
    services: tuple[Service, ...]


def parse_stack(doc: Any) -> Stack:
    """Typed stack from a parsed YAML/JSON document; raises StackError listing every problem."""
    p = Parser()
    if doc is None:
        doc = {}
    top = p.obj(doc, "", ("cluster", "taskDefinitions", "targetGroups", "loadBalancers", "services"))
    if top is None:
        raise StackError(p.errors)
    cluster = p.str(top, "cluster", "cluster") if "cluster" in top else None
    tds = ecs.parse_task_definitions(p, top)
    tgs, lbs = elbv2.parse(p, top)
    svcs = ecs.parse_services(p, top, {t.name for t in tgs})
    if p.errors:
        raise StackError(p.errors)
    return Stack(cluster, tds, tgs, lbs, svcs)


def parse_stack_text(text: str, source: str = "stack") -> Stack:
    """``parse_stack`` of a YAML (or JSON) text."""
    import yaml
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise StackError(f"{source}: invalid YAML: {' '.join(str(e).split())}") from None
    return parse_stack(doc)


@dataclass
class State:
    """What the control plane has now, as plain API documents (fetched by the CLI):

    * ``task_definitions``: family → the latest ACTIVE revision (DescribeTaskDefinition's taskDefinition);
    * ``target_groups``: name → DescribeTargetGroups document plus ``Attributes`` {Key: Value};
    * ``load_balancers``: name → DescribeLoadBalancers document;
    * ``listeners``: port → DescribeListeners document plus ``Rules`` (its non-default rules);
    * ``services``: name → DescribeServices document (ACTIVE ones only).
    """
    task_definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    target_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    load_balancers: dict[str, dict[str, Any]] = field(default_factory=dict)
    listeners: dict[int, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)


def compute_plan(stack: Stack, state: State, *, prune: bool = False) -> Plan:
    """The changes that converge ``state`` to ``stack``, in apply order: task definitions, then ELBv2
    (target groups, load balancers, listeners, rules), then services. Raises StackError for what cannot be
    applied (a target group's port, a service's launch type, a missing task definition...)."""
    out = Draft()
    registering = ecs.plan_task_definitions(stack.task_definitions, state.task_definitions, out)
    elbv2.plan(stack.target_groups, stack.load_balancers, target_groups=state.target_groups,
               load_balancers=state.load_balancers, listeners=state.listeners, prune=prune, out=out)
    ecs.plan_services(stack.services, state.services, task_definitions=state.task_definitions,
                      registering=registering, tg_names=elbv2.names_by_arn(state.target_groups), out=out)
    if out.errors:
        raise StackError(out.errors)
    return Plan(tuple(out.changes), tuple(out.notes))
