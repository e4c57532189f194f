"""The learner's side of ``python -m grader``: progress, hints, watch mode and the capstone.

Shipped in the student release, so this package imports nothing from
``grader`` but ``grader.catalog`` and itself, and never reads the reference code.
The hidden checks import from it too (``simulation``: what the tests pretend), so
that the learner tests and the grader judge alike.
"""
