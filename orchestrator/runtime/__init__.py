"""The container runtime: the one place minecs talks to a container engine.

``driver`` defines the narrow ``ContainerDriver`` protocol and the frozen dataclasses it takes and returns
(``ContainerSpec`` in, ``ContainerState`` and ``RuntimeEvent`` out). ``docker`` implements it on the Docker
SDK and is the only module in the package that imports ``docker``; it maps every SDK error to the minecs
errors (``ImageNotFoundError``, ``ContainerNotFoundError``, ``RuntimeDriverError``). ``fake`` is an
in-memory, scriptable implementation for tests; both pass the same contract suite
(``tests/contract/test_driver_contract.py``).

Callers import the types from ``orchestrator.runtime.driver`` and pick an implementation at the edge.
"""
