"""The graders: one function per exercise, found by the exercise's name.

    from exercises.graders import grader
    grader("Dense.backward")(module, "Dense.backward")   # returns, or raises Failed

A grader runs the exercise's method of `module` (the student's file) on its
cases, through the harness's drivers, and returns when every case is right;
otherwise it raises Todo, Wait or Failed (with the diagnosis). Each file of
this package grades one part of minimlp.py and registers its graders with
`@grades("Class.method", ...)`.
"""

from __future__ import annotations

GRADERS: dict = {}


def grades(*names):
    """Register the decorated function as the grader of the exercises `names`."""

    def register(function):
        for name in names:
            if name in GRADERS:
                raise ValueError(f"two graders for {name}")
            GRADERS[name] = function
        return function

    return register


def grader(name: str):
    """The grader of the exercise `name` ("Dense.backward")."""
    return GRADERS[name]


# Importing each part registers its graders.
from exercises.graders import (  # noqa: E402,F401
    activations,
    dense,
    dropout,
    losses,
    optimizers,
    sequential,
)
