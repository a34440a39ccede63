"""ECS's commands, mirroring `aws ecs` (one module per resource)."""
