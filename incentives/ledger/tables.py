"""The ledger's tables as SQLAlchemy Core sees them, and their columns named for what one row of each is."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from incentives.ledger.models import LedgerAccount, LedgerLot, LedgerLotUse, LedgerTransfer

ACCOUNTS = cast(Table, LedgerAccount.__table__)
TRANSFERS = cast(Table, LedgerTransfer.__table__)
LOTS = cast(Table, LedgerLot.__table__)
LOT_USES = cast(Table, LedgerLotUse.__table__)

# The tables' columns, named for what one row of each is.
ACCOUNT = ACCOUNTS.c
TRANSFER = TRANSFERS.c
LOT = LOTS.c

__all__ = ["ACCOUNT", "ACCOUNTS", "LOT", "LOTS", "LOT_USES", "TRANSFER", "TRANSFERS"]
