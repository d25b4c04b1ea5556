"""Reading Singer messages from stdin (msgspec, fast), with errors that never quote the input."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecReader, decoder
from singer_sdk.singerlib.exceptions import InvalidInputLine


class SingerInput(MsgSpecReader):
    """A line that is not JSON stops the run naming its line number, not its content: a record may hold
    personal data, and a broken line may hold anything (the SDK's reader logs and raises the line itself)."""

    def __init__(self) -> None:
        super().__init__()
        self._line_number = 0
        self.waiting_for_input = False  # blocked reading the next line (no message half processed)

    def process_lines(self, file_input: IO[Any] | None, callbacks: dict[str, Callable[[dict], None]]) -> Any:
        return super().process_lines(self._watched(file_input or self.default_input), callbacks)  # type: ignore[arg-type]

    def _watched(self, lines: Iterable[str]) -> Iterator[str]:
        iterator = iter(lines)
        while True:
            self.waiting_for_input = True
            try:
                line = next(iterator)
            except StopIteration:
                return
            finally:
                self.waiting_for_input = False
            yield line

    def deserialize_json(self, line: str) -> dict:
        self._line_number += 1
        try:
            return decoder.decode(line)  # type: ignore[no-any-return]
        except msgspec.DecodeError as exc:
            raise InvalidInputLine(f"input line {self._line_number} is not valid JSON ({exc})") from None
