"""The main navigation: each area registers its entries with the roles that may see them."""

from __future__ import annotations

from dataclasses import dataclass

from incentives.accounts.roles import Role


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str  # an N_() message id, translated when rendered
    roles: frozenset[Role]
    order: int


_ITEMS: list[NavItem] = []


def register(path: str, label: str, roles: set[Role] | frozenset[Role], order: int = 50) -> None:
    """One entry; a path may have several, each named for other roles ("Manage catalog" for those who may)."""
    if any(item.path == path and item.label == label for item in _ITEMS):
        return
    _ITEMS.append(NavItem(path, label, frozenset(roles), order))
    _ITEMS.sort(key=lambda item: (item.order, item.path))


def items_for(role: str | None) -> list[NavItem]:
    if role is None:
        return []
    return [item for item in _ITEMS if Role(role) in item.roles]
