"""Free text from callers: NUL and other control characters are refused at the edge.

PostgreSQL cannot store NUL in text at all (a 500 if it got that far), and the other C0
controls in a name or address are always a copy-paste accident or an attack on a CSV/log
reader. Tab, line feed and carriage return stay allowed (addresses and notes span lines).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_text(value: str) -> str:
    found = _CONTROL.search(value)
    if found:
        raise ValueError(
            f"contains the control character U+{ord(found.group()):04X} at position "
            f"{found.start()}, which is not allowed in text"
        )
    return value


def check_nested_text(value: Any) -> Any:
    """`check_text` on every string inside lists, tuples and dicts (keys included)."""
    if isinstance(value, str):
        return check_text(value)
    if isinstance(value, (list, tuple)):
        for item in value:
            check_nested_text(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_nested_text(key)
            check_nested_text(item)
    return value


Text = Annotated[str, AfterValidator(check_text)]


def escape_controls(value: str) -> str:
    """The text with each refused control character written as `\\xNN`, for error reports."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
