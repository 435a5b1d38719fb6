"""Sans-I/O steps: a generator yields requests and receives their answers, so one piece of logic can be driven
by a sync client and an async one without two copies drifting apart."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Generic, TypeVar

Request = TypeVar("Request")
Answer = TypeVar("Answer")
Outcome = TypeVar("Outcome")


@dataclass(frozen=True)
class Done(Generic[Outcome]):
    value: Outcome


def advance(steps: Generator[Request, Answer, Outcome], answer: Answer | None) -> Request | Done[Outcome]:
    """The next request, or Done(outcome) once the steps finish (never a bare StopIteration, which cannot cross a
    thread boundary)."""
    try:
        return next(steps) if answer is None else steps.send(answer)
    except StopIteration as finished:
        return Done(finished.value)
