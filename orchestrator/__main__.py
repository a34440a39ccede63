"""``python -m orchestrator`` is the ``minecs`` command."""

from orchestrator.cli.main import main

main()
