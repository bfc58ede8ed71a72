"""Config mistakes as file, key, message and fix: collected across every file, raised together,
and described from pydantic's errors in words an operator can act on."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from pydantic_core import PydanticCustomError


@dataclasses.dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One mistake: the file, the dotted key in it (`markets[1]`), what is wrong, how to fix it."""

    file: str
    key: str
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        fix = self.fix if self.fix.endswith((".", "?", "!")) else self.fix + "."
        return f"{where}: {self.message}. Fix: {fix}"


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists every mistake found, one per line."""

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))

    @classmethod
    def single(cls, file: str, key: str, message: str, fix: str) -> ConfigError:
        return cls([ConfigProblem(file, key, message, fix)])


def _fail(message: str, fix: str, key: str = "") -> PydanticCustomError:
    """A validation error carrying its fix (and optionally a sub-key of the failing model)."""
    return PydanticCustomError(
        "gateway_config", "{message}", {"message": message, "fix": fix, "key": key}
    )


def _display(path: Path, config_dir: Path) -> str:
    try:
        return path.relative_to(config_dir.parent).as_posix()
    except ValueError:
        return path.as_posix()
