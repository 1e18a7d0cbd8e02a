"""Roles and org kinds of API.md, and which role belongs to which kind of org."""

from __future__ import annotations

from enum import StrEnum

from incentives.errors import N_


class OrgKind(StrEnum):
    MANUFACTURER = "manufacturer"
    DISTRIBUTOR = "distributor"
    RESELLER = "reseller"
    AGENCY = "agency"


class Role(StrEnum):
    ADMIN = "admin"
    PARTNER_MANAGER = "partner_manager"
    AGENCY = "agency"
    DISTRIBUTOR_MANAGER = "distributor_manager"
    RESELLER_MANAGER = "reseller_manager"
    RESELLER_REP = "reseller_rep"


class Tier(StrEnum):
    PLATINUM = "platinum"
    GOLD = "gold"
    SILVER = "silver"
    REGISTERED = "registered"


ORG_KIND_OF_ROLE: dict[Role, OrgKind] = {
    Role.ADMIN: OrgKind.MANUFACTURER,
    Role.PARTNER_MANAGER: OrgKind.MANUFACTURER,
    Role.AGENCY: OrgKind.AGENCY,
    Role.DISTRIBUTOR_MANAGER: OrgKind.DISTRIBUTOR,
    Role.RESELLER_MANAGER: OrgKind.RESELLER,
    Role.RESELLER_REP: OrgKind.RESELLER,
}

# Roles that act for one program (their scope is the program); the others act for their org.
PROGRAM_ROLES = frozenset({Role.ADMIN, Role.PARTNER_MANAGER, Role.AGENCY})
PARTNER_ROLES = frozenset({Role.DISTRIBUTOR_MANAGER, Role.RESELLER_MANAGER, Role.RESELLER_REP})

TIER_LABELS = {
    Tier.PLATINUM: N_("Platinum"),
    Tier.GOLD: N_("Gold"),
    Tier.SILVER: N_("Silver"),
    Tier.REGISTERED: N_("Registered"),
}
KIND_LABELS = {
    OrgKind.MANUFACTURER: N_("Manufacturer"),
    OrgKind.DISTRIBUTOR: N_("Distributor"),
    OrgKind.RESELLER: N_("Reseller"),
    OrgKind.AGENCY: N_("Agency"),
}
