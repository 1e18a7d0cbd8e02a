"""Coupon codes: unique and unguessable (80 random bits from the OS), easy to read aloud and type."""

from __future__ import annotations

import secrets

# Crockford's base32 without the easily confused I, L, O, U.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS = 4
GROUP_LENGTH = 4


def new_coupon_code(prefix: str = "RW") -> str:
    """e.g. RW-7K2M-QX9D-04TB-HC3V: 16 symbols of 5 bits = 80 bits of entropy."""
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    groups = [symbols[i : i + GROUP_LENGTH] for i in range(0, len(symbols), GROUP_LENGTH)]
    return "-".join([prefix, *groups])
