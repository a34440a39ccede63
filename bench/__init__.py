"""minecs benchmarks: every figure is a ratio against a baseline measured in the same run.

Run ``python -m bench`` (all benchmarks) or ``python -m bench runtask``; see bench/README.md.
"""
