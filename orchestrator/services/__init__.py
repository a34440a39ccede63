"""The AWS services minecs serves, one package each (``ecs``, ``elbv2``...). A service talks to another
only through a small typed port the other publishes (``elbv2.port``); the import-linter contracts in
``.importlinter`` hold them apart.
"""
