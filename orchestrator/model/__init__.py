"""The pure task-definition model: validation of request documents and the typed runtime view.

``validation`` checks a ``RegisterTaskDefinition`` document and reports every problem with its ECS field
path; ``taskdef`` turns a valid document into the registered ECS shape and into frozen dataclasses.
Nothing in this package does I/O or imports Docker, SQLite or the CLI.
"""
