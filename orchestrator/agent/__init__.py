"""Running tasks on one Docker daemon: the pure lifecycle step (``lifecycle``), the translation of task
definitions into container specs (``containers``) and the runner that applies both (``runner``). The
FARGATE capacity of the control plane and ``minecs agent`` share this code."""
