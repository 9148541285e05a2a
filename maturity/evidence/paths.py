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


def compile_glob(pattern: str) -> re.Pattern[str]:
    """Return the compiled regular expression for ``pattern`` (see the module docstring)."""
    return _compiled(pattern)[0]


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """Return the regular expression of ``pattern`` and its literal runs: the stretches of
    plain characters between wildcards, each of which a matching path contains as is."""
    out: list[str] = []
    literals: list[str] = []
    run: list[str] = []

    def wildcard(regex: str) -> None:
        if run:
            literals.append("".join(run))
            run.clear()
        out.append(regex)

    i, n = 0, len(pattern)
    while i < n:
        if pattern.startswith("**/", i) and (i == 0 or pattern[i - 1] == "/"):
            wildcard("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == n:
            wildcard("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            wildcard(".*")
            i += 2
        elif pattern[i] == "*":
            wildcard("[^/]*")
            i += 1
        elif pattern[i] == "?":
            wildcard("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            escaped = body.replace("\\", "\\\\").replace("^", "\\^")
            wildcard(f"[{'^/' if negate else ''}{escaped}]" if negate else f"[{escaped}]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            run.append(pattern[i])
            i += 1
    wildcard(r"\Z")
    return re.compile("".join(out), re.DOTALL), tuple(literals)


def glob_match(pattern: str, path: str) -> bool:
    """Tell whether ``path`` matches ``pattern`` (see the module docstring)."""
    return compile_glob(pattern).match(path) is not None


def glob_filter(pattern: str, paths: list[str]) -> list[str]:
    """Return the paths that match ``pattern``, in the given order.

    A path that matches contains each literal run of the pattern (``Dockerfile`` in
    ``**/Dockerfile``): when one of them is in none of the paths (one substring search over
    all of them), nothing matches; otherwise only the paths containing the longest run are
    matched against the regular expression. Most patterns of a check match nothing in a
    repository of thousands of files.
    """
    regex, literals = _compiled(pattern)
    match = regex.match
    if not literals:
        return [path for path in paths if match(path)]
    everything = "\n".join(paths)
    if any(literal not in everything for literal in literals):
        return []
    longest = max(literals, key=len)
    return [path for path in paths if longest in path and match(path)]
