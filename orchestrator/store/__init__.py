"""The SQLite state store: the only record of desired state (see ``db``) and its typed records."""

from orchestrator.store.db import Store

__all__ = ["Store"]
