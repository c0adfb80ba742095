"""Patterns for text inputs that the OpenAPI document and the server read alike.

"Space" is spelled out as the characters Python's str.strip() and str.split() remove:
Python's `\\s` and a JSON Schema (ECMA 262) `\\s` differ (\\x1c-\\x1f are space to Python
only), so a pattern written with `\\s` would call a value valid that the server then finds
blank. NUL is refused everywhere text is stored: PostgreSQL text cannot hold it.
"""

from __future__ import annotations

WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Something besides spaces, and no NUL (a name, a category).
NOT_BLANK = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"
# No NUL (text that is stored or compared in PostgreSQL).
NO_NUL = r"^[^\x00]*$"
