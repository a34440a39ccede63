"""The placement scheduler: which container instance takes each task (ecs.md §7.2), and which tasks go
on scale-in. Pure: no store, no Docker, no clock — callers pass instances, their usage and a seeded rng.

``placement`` (the entry points and the value types), ``feasibility`` (working copy + filters),
``ranking`` (strategies, scale-in choice), ``fastpath`` (the indexed common case), ``query`` (the cluster
query language of memberOf and ListContainerInstances filters)."""
