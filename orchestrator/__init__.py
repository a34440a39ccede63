"""minecs: a miniature Amazon ECS that runs real ECS task definitions on the local Docker daemon."""

__version__ = "0.1.0"
