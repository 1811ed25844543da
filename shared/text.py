"""Text from clients as a database can keep it: no NUL, no other control characters."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# C0 and C1 control characters; Postgres refuses NUL outright, and none belongs in a name.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def has_control_characters(text: str) -> bool:
    return _CONTROL_CHARACTERS.search(text) is not None


def _without_control_characters(text: str) -> str:
    if has_control_characters(text):
        raise ValueError("must not contain control characters")
    return text


# A name, title or label: one line of printable text.
SingleLineText = Annotated[str, AfterValidator(_without_control_characters)]
