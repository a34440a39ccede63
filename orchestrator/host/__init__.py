"""The machine minecs runs on: ``engine`` (a Docker daemon and a static busybox, installed and started
when missing), ``prepare`` (``minecs setup``), ``doctor`` (``minecs doctor``) and ``down`` (``minecs
down``: a home's processes stopped and everything it made removed)."""
