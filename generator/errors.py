"""Errors the CLI reports as one clear message each, without a traceback."""

from __future__ import annotations

from dataclasses import dataclass


class PipegenError(Exception):
    """Base of every error pipegen reports to the user; `exit_code` follows the CLI contract."""

    exit_code = 2


@dataclass(frozen=True)
class Located:
    """One problem at a place in a file: `file:line: field: message`."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class SpecError(PipegenError):
    """A spec that cannot become a pipeline. Carries every problem found, in line order."""

    def __init__(self, problems: list[Located]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.field))
        super().__init__("\n".join(str(p) for p in self.problems))


class LintFailure(PipegenError):
    """Generated templates that cfn-lint (or our own checks) reject: a generator bug."""

    exit_code = 1


class AssemblyError(PipegenError):
    """A parent/child stack contract that does not hold: a generator bug, caught before writing."""

    exit_code = 1
