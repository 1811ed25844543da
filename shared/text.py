"""Text from clients as a database can keep it: no NUL, no other control characters."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

# C0 and C1 control characters; Postgres refuses NUL outright, and none belongs in a name.
_CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f"
_ANY_CONTROL_CHARACTER = re.compile(f"[{_CONTROL_CHARACTERS}]")


def has_control_characters(text: str) -> bool:
    return _ANY_CONTROL_CHARACTER.search(text) is not None


# A name, title or label: one line of printable text. A pattern, so that the OpenAPI documents
# say so too.
SingleLineText = Annotated[str, Field(pattern=f"^[^{_CONTROL_CHARACTERS}]*$")]
