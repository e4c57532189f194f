"""The learner's side of ``python -m grader``: progress, hints, watch mode and the capstone.

Shipped in the student release, so this package imports nothing from
``grader`` but ``grader.catalog`` and itself, and never reads the reference code.
"""
