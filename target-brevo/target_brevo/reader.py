"""Reading Singer messages from stdin (msgspec, fast), with errors that never quote the input."""

from __future__ import annotations

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecReader, decoder
from singer_sdk.singerlib.exceptions import InvalidInputLine


class SingerInput(MsgSpecReader):
    """A line that is not JSON stops the run naming its line number, not its content: a record may hold
    personal data, and a broken line may hold anything (the SDK's reader logs and raises the line itself)."""

    def __init__(self) -> None:
        super().__init__()
        self._line_number = 0

    def deserialize_json(self, line: str) -> dict:
        self._line_number += 1
        try:
            return decoder.decode(line)  # type: ignore[no-any-return]
        except msgspec.DecodeError as exc:
            raise InvalidInputLine(f"input line {self._line_number} is not valid JSON ({exc})") from None
