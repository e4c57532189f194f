"""The learner's side: ``python -m grader`` progress, hints, watch mode and the capstone, and the
learner tests' plumbing that ``tests/conftest.py`` wires into pytest.

Shipped in the student release, so this package imports nothing from ``grader``
but what the release ships with it (``catalog``, ``cpu_wait``, ``suggest``,
``tracebacks``) and itself, and never reads the reference code.
The hidden checks import from it too (``simulation``: what the tests pretend), so
that the learner tests and the grader judge alike.
"""
