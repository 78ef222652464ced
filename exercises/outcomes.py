"""What grading an exercise can end in, and how a result is printed.

Standard library only: the runner (check.py) prints results without importing
torch; the harness and the graders raise these.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field


@dataclass
class Result:
    number: int
    name: str
    status: str  # PASS, TODO, WAIT or FAIL
    headline: str = ""
    details: list = field(default_factory=list)
    ran_out: bool = False  # FAIL because it took longer than the time limit

    def lines(self, width: int = 88) -> list:
        """The result as lines of at most `width` characters (the headline on the
        first line, wrapped; the details below it, indented)."""
        first = f"{self.number:>2}  {self.name:<26}{self.status}"
        if self.headline:
            first += f"  {self.headline}"
        lines = textwrap.wrap(
            first,
            width,
            subsequent_indent=" " * 6,
            break_long_words=False,
            break_on_hyphens=False,
        )
        for detail in self.details:
            indent = " " * (6 + len(detail) - len(detail.lstrip()))
            lines += textwrap.wrap(
                detail.strip(),
                width,
                initial_indent=indent,
                subsequent_indent=indent + "    ",
                break_long_words=False,
                break_on_hyphens=False,
            )
        return lines


class Todo(Exception):
    """The exercise still raises NotImplementedError."""


class Wait(Exception):
    """The exercise cannot be graded before an earlier one passes."""


class Failed(Exception):
    def __init__(self, headline: str, look_at: str = "", example: list | None = None):
        super().__init__(headline)
        self.headline, self.look_at, self.example = headline, look_at, example or []


class HomeworkRule(BaseException):
    """The student's code used what the homework forbids. A BaseException, so
    that no `except Exception` of the graders mistakes it for a wrong answer."""


class TimeLimit(BaseException):
    """The exercise ran past its time limit (raised by the runner's alarm)."""


RULE = (
    "the homework's rule: every gradient by hand, with tensor methods only — no "
    "torch.nn, torch.optim, torch.autograd, nor .backward() of a tensor"
)
