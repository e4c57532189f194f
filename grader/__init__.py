"""torch-kata's grader: runs hidden checks against a submission in isolated workers."""
