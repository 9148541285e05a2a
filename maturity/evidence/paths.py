"""Path patterns shared by snapshot readers and check rules.

A pattern is matched against a whole POSIX path relative to the repository root:

* ``*`` matches any run of characters except ``/``; ``?`` one such character;
* ``**/`` at the start or after a ``/`` matches zero or more whole directories, so
  ``**/Dockerfile`` matches ``Dockerfile`` and ``svc/api/Dockerfile``;
* a trailing ``/**`` matches everything below a directory;
* ``[abc]`` is a character class (``[!abc]`` negated), never crossing ``/``.

Matching is case-sensitive, like git. Patterns are compiled once (``compile_glob`` is cached).
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=4096)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """Return the compiled regular expression for ``pattern`` (see the module docstring)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        if pattern.startswith("**/", i) and (i == 0 or pattern[i - 1] == "/"):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == n:
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            escaped = body.replace("\\", "\\\\").replace("^", "\\^")
            out.append(f"[{'^/' if negate else ''}{escaped}]" if negate else f"[{escaped}]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def glob_match(pattern: str, path: str) -> bool:
    """Tell whether ``path`` matches ``pattern`` (see the module docstring)."""
    return compile_glob(pattern).match(path) is not None


def glob_filter(pattern: str, paths: list[str]) -> list[str]:
    """Return the paths that match ``pattern``, in the given order."""
    match = compile_glob(pattern).match
    return [path for path in paths if match(path)]
