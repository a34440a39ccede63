"""Files minecs ships beside its code: the example and demo task definitions.

An installed minecs carries them as ``orchestrator/taskdefs/`` (setup.py copies the checkout's top-level
``taskdefs/`` into the wheel); a checkout, or an editable install of one, reads ``taskdefs/`` in place.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def taskdefs_dir() -> Path:
    """The directory of the shipped task definitions (``demo/`` inside holds the demo's four)."""
    installed = _PACKAGE / "taskdefs"
    if installed.is_dir():
        return installed
    checkout = _PACKAGE.parent / "taskdefs"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"minecs's task definitions are missing: neither {installed} nor {checkout} exists; "
                            "reinstall minecs")
