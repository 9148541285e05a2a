"""The data revision: a token in the shared cache that every database write replaces.

Pages that read many tables (the team report, the organisation page) are cached whole per
reader under the current revision (common.cache.cached_page): while nothing is written, a
view costs a session, a user and two cache reads, like the cached API page, instead of
deriving its version from the tables on every view (BENCHMARKS.md, "Report pages").

Writers need not know about it: a wrapper on every database connection
(``connection.execute_wrappers``, installed when a connection opens) sees each statement
and, for any that may write (anything but SELECT and transaction control; a ``WITH``
without INSERT, UPDATE or DELETE reads), replaces the token: after the commit (so no
reader can keep what it read before the commit under the new token), and before the
writing connection's own next read of it (a reader in the same transaction, or a test's,
sees its change). Writes no page shows (sessions, sign-in attempts, API tokens' last use:
EXEMPT_TABLES; the time of a sign-in: EXEMPT_STATEMENTS) are left out, so that browsing,
signing in and reading the API write nothing that renews the pages. A COPY into a table
(common.db.insert_rows, scoring's child rows) calls ``note_write`` itself; a change of
settings (tests) calls ``changed``.
Writes outside Django (psql) are not seen: cached pages expire after PAGE_REVISION_SECONDS
at the latest.

A token, not a counter: when the key is evicted or the cache emptied, the next reader
makes a new one, which no cached page is stored under, so a lost revision can only cost
a rebuild, never serve a stale page. When the cache is unreachable ``current`` answers
None and pages are built as if uncached.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

REVISION_KEY = "maturity:data-revision"

# Tables whose writes no cached page shows: the session store (the reader's time zone and
# messages are part of a page's key or keep it from the cache), django-axes' sign-in
# bookkeeping and the API's tokens (each records its last use once a minute: a dashboard
# polling the API would drop every page each minute). Browsing writes these; leaving them
# out keeps browsing from renewing pages.
EXEMPT_TABLES = frozenset(
    {
        "django_session",
        "axes_accessattempt",
        "axes_accesslog",
        "axes_accessfailurelog",
        "reports_apitoken",
    }
)

# Django's store of last_login at each sign-in (django.contrib.auth.models.update_last_login),
# exactly as the ORM writes it: no page shows it, and renewing there would drop every
# reader's pages whenever anyone signs in. Should Django ever word it otherwise, sign-ins
# renew the revision again: a cost, never a stale page.
EXEMPT_STATEMENTS = frozenset(
    {'UPDATE "auth_user" SET "last_login" = %s WHERE "auth_user"."id" = %s'}
)

_READS = ("SELECT", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT", "SET ", "SHOW",
          "EXPLAIN", "PRAGMA")  # fmt: skip
_TARGET = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)
_WRITE_WORD = re.compile(r"\b(?:INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def current() -> str | None:
    """Return the current revision token (made when there is none); None when the cache
    cannot be reached (then nothing may be served from a revision-keyed cache).

    When this thread's connection wrote in a transaction not yet committed (a view that
    writes and then reads, a test), the token is renewed first: what it wrote is visible
    to it, not to others, so the revision other readers see needs no change until the
    commit. Once that transaction is over there is nothing left to renew: its commit
    renewed the token, or it was rolled back."""
    connection = connections[DEFAULT_DB_ALIAS]
    if getattr(connection, "revision_pending", False):
        connection.revision_pending = False  # type: ignore[attr-defined]
        if connection.in_atomic_block:
            changed()
    try:
        token: str | None = cache.get(REVISION_KEY)
        if token is None:
            made = secrets.token_hex(8)
            token = made if cache.add(REVISION_KEY, made, None) else cache.get(REVISION_KEY)
    except Exception as error:  # noqa: BLE001 - any cache failure: no cached pages
        logger.warning("data revision unavailable: %s", error)
        return None
    return token


def changed(**_: Any) -> None:
    """Replace the revision token: something a cached page may show was written.

    Accepts and ignores keyword arguments, so it can receive a signal (setting_changed).
    A failure is logged as an error: pages cached before it may be served until the next
    write or their expiry (PAGE_REVISION_SECONDS)."""
    try:
        cache.set(REVISION_KEY, secrets.token_hex(8), None)
    except Exception:
        logger.exception("data revision not renewed; cached pages expire on their own")


def may_write(sql: str) -> bool:
    """Tell whether ``sql`` may change a table a page shows (conservative: yes when
    unsure). Transaction control and reads do not; writes to EXEMPT_TABLES and
    EXEMPT_STATEMENTS do not."""
    if sql in EXEMPT_STATEMENTS:
        return False
    # A statement opening with "(" is a compound SELECT (QuerySet.union() on PostgreSQL).
    head = sql.lstrip("( \t\r\n")[:9].upper()
    if head.startswith(_READS):
        return False
    if head.startswith("WITH"):
        return bool(_WRITE_WORD.search(sql))
    target = _TARGET.match(sql)
    return not (target and target.group(1).lower() in EXEMPT_TABLES)


def note_write(connection: BaseDatabaseWrapper) -> None:
    """Renew the revision for a write just made on ``connection``: at once outside a
    transaction; inside one, when it commits (once, however many statements wrote), and
    before this connection's next read of the revision (``current``)."""
    if not connection.in_atomic_block:
        changed()
        return
    connection.revision_pending = True  # type: ignore[attr-defined]
    # Entries are (savepoint ids, callback, robust) since Django 4.2; the stubs say pairs.
    pending = [entry[1] for entry in connection.run_on_commit]
    if not any(callback is changed for callback in pending):
        # Robust: a failing callback registered before it must not skip the renewal.
        transaction.on_commit(changed, using=connection.alias, robust=True)


def _watch(
    execute: Callable[..., Any],
    sql: str,
    params: Any,
    many: bool,
    context: dict[str, Any],
) -> Any:
    result = execute(sql, params, many, context)
    if may_write(sql):
        note_write(context["connection"])
    return result


def watch(connection: BaseDatabaseWrapper, **_: Any) -> None:
    """Install the write watcher on ``connection`` (a connection_created receiver). First
    in the list: ``connection.execute_wrapper()`` pops the last one when it exits, and a
    connection opened inside one must keep its watcher."""
    if _watch not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, _watch)
