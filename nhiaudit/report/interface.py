"""The reporter interface: one module per output format, each reading a FindingsDocument only."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TextIO

from nhiaudit.model import FindingsDocument


@dataclass
class ReportOptions:
    max_rows: int = 50
    """Terminal table: findings shown before '... N more'."""
    color: bool | None = None
    """None = decide from the output stream."""
    width: int | None = None


class Reporter(ABC):
    name: str
    extension: str
    description: str
    binary: bool = False

    @abstractmethod
    def render(self, doc: FindingsDocument, out: TextIO, options: ReportOptions) -> None: ...
