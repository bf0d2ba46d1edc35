"""Instructor grading at class scale, built on nbgrader: ``python -m grading SUBMISSIONS``.

collect (find and import submissions) -> worker (nbgrader autograde, one submission, private
course) with sandbox (the kernel's limits and isolation) -> gradebook (the single writer) -> report.
"""
