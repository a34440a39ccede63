"""The ``minecs`` command line: click commands mirroring ``aws ecs``, rendered with rich."""
