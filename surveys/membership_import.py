"""Bulk import of memberships from CSV: the one way the console, the API and the CLI do it.

The file (UTF-8, a byte order mark allowed; comma, semicolon or tab separated, as
spreadsheets save it) starts with a header naming its columns, in any order:

- ``email`` (required): the person's address. It matches the account with that e-mail
  (case-insensitively) or, failing that, the account named by it; an address with no
  account gets a new account (username = the address, no usable password: the person signs
  in through single sign-on or sets a password with "Forgot your password?"). A value
  without "@" is the username of an existing account.
- ``team`` (required): the team's slug. Archived teams take no new members.
- ``role`` (optional): ``member`` (the default when empty) or ``manager``.

Other columns (a name, a note) are ignored and reported. An import adds memberships and
changes roles; it never removes a membership. Every row is checked before anything is
written: one wrong row (or a wrong file) writes nothing, and every problem is reported
with its line. Each membership written is saved on its own so the audit log records it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypedDict

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Lower

from common.text import text_problem
from surveys.models import Membership, Team

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# A file's limits: a larger organisation imports in several files.
MAX_IMPORT_BYTES = 1_000_000
MAX_IMPORT_ROWS = 5_000
COLUMNS = ("email", "team", "role")
_REQUIRED = ("email", "team")
_ROLES = {role.value for role in Membership.Role}
_USERNAME_MAX = 150  # django.contrib.auth's username length

Action = Literal["add", "change role", "unchanged"]


@dataclass(frozen=True)
class RowError:
    """A problem of the file: ``line`` is its line (1 is the header; 0: the whole file),
    ``column`` the column at fault ("" for the row or the file)."""

    line: int
    column: str
    message: str


@dataclass(frozen=True)
class PlannedRow:
    """What one row does: ``action`` on the membership of ``email`` in ``team``;
    ``new_account`` when the address has no account yet (one is created)."""

    line: int
    email: str
    team: str
    role: str
    action: Action
    new_account: bool = False
    previous_role: str = ""


class ImportCounts(TypedDict):
    rows: int
    added: int
    roles_changed: int
    unchanged: int
    accounts_created: int


@dataclass
class MembershipImport:
    """The outcome of an import: the rows as planned, the problems found (none when
    ``applied``), and the columns ignored."""

    rows: list[PlannedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    applied: bool = False
    dry_run: bool = False

    @property
    def counts(self) -> ImportCounts:
        actions = [row.action for row in self.rows]
        return {
            "rows": len(self.rows),
            "added": actions.count("add"),
            "roles_changed": actions.count("change role"),
            "unchanged": actions.count("unchanged"),
            "accounts_created": len({row.email for row in self.rows if row.new_account}),
        }


def memberships_import(
    data: bytes | str, *, dry_run: bool = False, limit_bytes: int = MAX_IMPORT_BYTES
) -> MembershipImport:
    """Check a CSV of memberships (see the module) and, unless ``dry_run`` or any row is
    wrong, write it in one transaction.

    Returns the outcome: ``applied`` is True only when everything was written; with errors
    nothing is. The rows are checked again inside the transaction that writes them, with
    the teams and accounts locked against a concurrent import of the same people.
    """
    outcome = MembershipImport(dry_run=dry_run)
    parsed = _parse(data, outcome, limit_bytes)
    if outcome.errors:
        return outcome
    return _import(parsed, outcome)


def memberships_import_rows(
    rows: list[MembershipRow], *, dry_run: bool = False
) -> MembershipImport:
    """Import memberships given as rows (the console's "add a person" is one row), with
    the same checks and outcome as memberships_import."""
    return _import(rows, MembershipImport(dry_run=dry_run))


def _import(rows: list[MembershipRow], outcome: MembershipImport) -> MembershipImport:
    if outcome.dry_run:
        outcome.rows, _ = _plan(rows, outcome)
        return outcome
    try:
        with transaction.atomic():
            outcome.rows, users = _plan(rows, outcome, lock=True)
            if outcome.errors:
                return outcome
            _apply(outcome.rows, users)
    except IntegrityError:  # a concurrent change created one of these accounts or rows
        outcome.errors.append(RowError(0, "", _CONCURRENT))
        return outcome
    outcome.applied = True
    return outcome


_CONCURRENT = (
    "Someone changed these memberships or accounts at the same time; nothing was imported. "
    "Import the file again."
)


@dataclass(frozen=True)
class MembershipRow:
    """One membership to import: the person (an e-mail address, or the username of an
    existing account), the team's slug and the role ("" for member); ``line`` names it in
    errors (the file's line, or 1 for a single row from a form)."""

    line: int
    email: str
    team: str
    role: str


def _decode(data: bytes | str, outcome: MembershipImport, limit_bytes: int) -> str | None:
    size = len(data.encode() if isinstance(data, str) else data)
    if size > limit_bytes:
        message = (
            f"The file is larger than {limit_bytes:,} bytes, the most one import takes: "
            "split it into several files."
        )
        outcome.errors.append(RowError(0, "", message))
        return None
    if isinstance(data, str):
        text = data.removeprefix("\ufeff")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            outcome.errors.append(
                RowError(
                    0,
                    "",
                    f"The file is not UTF-8 text (byte {error.start + 1}). Save it as "
                    '"CSV UTF-8" and try again.',
                )
            )
            return None
    problem = text_problem(text)
    if problem is not None:  # a NUL or a lone surrogate: nothing a CSV of addresses holds
        where = next(i for i, c in enumerate(text) if c == "\x00" or "\ud800" <= c <= "\udfff")
        line = text.count("\n", 0, where) + 1
        outcome.errors.append(RowError(line, "", f"The file is not valid CSV: {problem}"))
        return None
    return text


class _NotCsv(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (line, fields) of each non-empty record; the delimiter is the header's.

    Raises _NotCsv with the line where the text stops being CSV (an unclosed quote, a NUL).
    """
    header = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=header.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    line = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise _NotCsv(reader.line_num, str(error)) from error
        if any(value.strip() for value in fields):
            yield line, fields
        line = reader.line_num + 1


def _parse(data: bytes | str, outcome: MembershipImport, limit_bytes: int) -> list[MembershipRow]:
    text = _decode(data, outcome, limit_bytes)
    if text is None:
        return []
    records = _records(text)
    try:
        line, header = next(records, (1, []))
        names = [name.strip().lower() for name in header]
        missing = [name for name in _REQUIRED if name not in names]
        named = [name for name in names if name]  # a trailing separator names nothing
        if missing or len(set(named)) != len(named):
            outcome.errors.append(RowError(line, "", _header_problem(names, missing)))
            return []
        outcome.ignored_columns = [name for name in named if name not in COLUMNS]
        rows: list[MembershipRow] = []
        for line, fields in records:
            if len(rows) == MAX_IMPORT_ROWS:
                message = f"More than {MAX_IMPORT_ROWS:,} rows: split the file."
                outcome.errors.append(RowError(line, "", message))
                return []
            values = dict(zip(names, (value.strip() for value in fields), strict=False))
            rows.append(
                MembershipRow(
                    line, values.get("email", ""), values.get("team", ""), values.get("role", "")
                )
            )
    except _NotCsv as error:
        outcome.errors.append(RowError(error.line, "", f"The file is not valid CSV: {error}."))
        return []
    if not rows:
        outcome.errors.append(RowError(0, "", "The file has a header but no rows."))
    return rows


def _header_problem(names: list[str], missing: list[str]) -> str:
    if not any(names):
        return "The file is empty: its first line must name the columns email,team,role."
    if missing:
        found = ", ".join(names)
        return (
            f"The header must name the columns email and team (role is optional); "
            f"it names: {found}. Missing: {', '.join(missing)}."
        )
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    return f"The header names {', '.join(repeated)} more than once."


def _plan(
    rows: list[MembershipRow], outcome: MembershipImport, *, lock: bool = False
) -> tuple[list[PlannedRow], dict[str, User | None]]:
    """Check every row against the database and say what it would do; also return the
    accounts of the addresses (see _accounts)."""
    users = _accounts({person_key(row.email) for row in rows if row.email}, lock=lock)
    teams_query = Team.objects.filter(slug__in={row.team for row in rows})
    teams = {team.slug: team for team in (teams_query.select_for_update() if lock else teams_query)}
    current = {
        (user_id, team_id): role
        for user_id, team_id, role in Membership.objects.filter(
            team__in=teams.values(), user__in=[u for u in users.values() if u is not None]
        ).values_list("user_id", "team_id", "role")
    }
    seen: dict[tuple[object, str], int] = {}
    planned = []
    for row in rows:
        problems = _row_problems(row, users, teams, seen)
        outcome.errors.extend(problems)
        if problems:
            continue
        email, role = person_key(row.email), row.role.lower() or Membership.Role.MEMBER
        user, team = users.get(email), teams[row.team]
        before = current.get((user.pk, team.pk), "") if user is not None else ""
        action: Action = "add" if not before else "unchanged" if before == role else "change role"
        planned.append(PlannedRow(row.line, email, row.team, role, action, user is None, before))
    return planned, users


def _row_problems(
    row: MembershipRow,
    users: dict[str, User | None],
    teams: dict[str, Team],
    seen: dict[tuple[object, str], int],
) -> list[RowError]:
    problems = [
        RowError(row.line, column, message)
        for column, message in (
            ("email", _email_problem(row.email, users)),
            ("team", _team_problem(row.team, teams)),
            ("role", _role_problem(row.role)),
        )
        if message
    ]
    # The same person twice in a team, however written (address, username, case).
    key = person_key(row.email)
    user = users.get(key)
    identity: tuple[object, str] = (user.pk if user is not None else key, row.team)
    if key and row.team and identity in seen:
        message = f"Repeats line {seen[identity]} (the same person in the same team)."
        problems.append(RowError(row.line, "", message))
    seen.setdefault(identity, row.line)
    return problems


def person_key(value: str) -> str:
    """How a row names a person: an address lower-cased, a username as written (Django's
    usernames are case-sensitive: "ben" and "Ben" may be two people)."""
    value = value.strip()
    return value.lower() if "@" in value else value


def _email_problem(value: str, users: dict[str, User | None]) -> str:
    key = person_key(value)
    if not key:
        return "The e-mail address is missing."
    if "@" not in key:  # the username of an existing account
        if users.get(key) is None:
            return f'No account is named "{value}"; a new account needs an e-mail address.'
        return ""
    if not _valid_email(key):
        return f'"{value}" is not an e-mail address.'
    if key not in users:
        return "Several accounts have this address (or name): add this person by username."
    if users[key] is None and len(key) > _USERNAME_MAX:
        return (
            "No account has this address, and it is too long to name a new account "
            f"({_USERNAME_MAX} characters at most)."
        )
    return ""


def _team_problem(slug: str, teams: dict[str, Team]) -> str:
    team = teams.get(slug)
    if not slug:
        return "The team is missing."
    if team is None:
        return f'No team has the slug "{slug}".'
    if team.archived_at is not None:
        return f'The team "{team.name}" is archived.'
    return ""


def _role_problem(role: str) -> str:
    if role and role.lower() not in _ROLES:
        return f'"{role}" is not a role: use member or manager (empty: member).'
    return ""


def _valid_email(email: str) -> bool:
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


def _accounts(keys: set[str], *, lock: bool) -> dict[str, User | None]:
    """Map each person_key to its one account, None when it has none.

    An address matches the account with that e-mail (any case), else the account named by
    it (any case); a username matches exactly. Keys that several accounts match are left
    out (their rows are refused as ambiguous)."""
    if not keys:
        return {}
    emails = {key for key in keys if "@" in key}
    names = keys - emails
    model = get_user_model()
    query = model.objects.annotate(
        email_lower=Lower("email"), username_lower=Lower("username")
    ).filter(Q(email_lower__in=emails) | Q(username_lower__in=emails) | Q(username__in=names))
    by_email: dict[str, list[User]] = {}
    by_username: dict[str, list[User]] = {}
    for user in query.select_for_update() if lock else query:
        by_email.setdefault(user.email.lower(), []).append(user)
        by_username.setdefault(user.username.lower(), []).append(user)
    found: dict[str, User | None] = {}
    for key in names:
        found[key] = next((u for u in by_username.get(key.lower(), []) if u.username == key), None)
    for key in emails:
        matches = by_email.get(key, []) or by_username.get(key, [])
        if len(matches) <= 1:
            found[key] = matches[0] if matches else None
    return found


def _apply(rows: list[PlannedRow], users: dict[str, User | None]) -> None:
    model = get_user_model()
    teams = {team.slug: team for team in Team.objects.filter(slug__in={r.team for r in rows})}
    for row in rows:
        if row.action == "unchanged":
            continue
        user = users.get(row.email)
        if user is None:
            user = model(username=row.email, email=row.email)
            user.set_unusable_password()
            user.save()
            users[row.email] = user
        membership, created = Membership.objects.get_or_create(
            user=user, team=teams[row.team], defaults={"role": row.role}
        )
        if not created and membership.role != row.role:
            membership.role = row.role
            membership.save(update_fields=["role"])
