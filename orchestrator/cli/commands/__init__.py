"""The commands, grouped per service (``ecs/``, ``elbv2/``; minecs's own ``server`` and ``apply`` here),
one module per resource; each command reads options, calls the API, renders the answer."""
