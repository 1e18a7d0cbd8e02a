"""The main navigation: each area registers its entries with the roles that may see them, and the roles for
which an entry is a rarer one, kept in the header's "More" menu so that the header stays one line."""

from __future__ import annotations

from dataclasses import dataclass

from incentives.accounts.roles import Role


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str  # an N_() message id, translated when rendered
    roles: frozenset[Role]
    order: int
    more_for: frozenset[Role] = frozenset()


@dataclass(frozen=True)
class Shown:
    """An entry as one role sees it: in the header's first line, or in its "More" menu."""

    path: str
    label: str
    more: bool


_ITEMS: list[NavItem] = []


def register(
    path: str,
    label: str,
    roles: set[Role] | frozenset[Role],
    order: int = 50,
    more_for: set[Role] | frozenset[Role] = frozenset(),
) -> None:
    """One entry; a path may have several, each named for other roles ("Manage catalog" for those who may).
    `more_for`: the roles that use it rarely and find it in the "More" menu."""
    if any(item.path == path and item.label == label for item in _ITEMS):
        return
    _ITEMS.append(NavItem(path, label, frozenset(roles), order, frozenset(more_for)))
    _ITEMS.sort(key=lambda item: (item.order, item.path))


def items_for(role: str | None) -> list[Shown]:
    if role is None:
        return []
    who = Role(role)
    return [Shown(item.path, item.label, who in item.more_for) for item in _ITEMS if who in item.roles]
