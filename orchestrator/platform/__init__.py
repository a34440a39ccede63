"""The platform every AWS service of minecs stands on: one HTTP endpoint, the wire protocols (driven by
botocore's service models), dispatch keyed by *(service, operation)*, and the registry services join.

Nothing here knows ECS or ELBv2: a service is a package under ``orchestrator.services`` that hands the
platform a ``dispatch.Service`` (its name, botocore model and handlers), and the composition root
(``orchestrator.controlplane``) lists them.
"""
