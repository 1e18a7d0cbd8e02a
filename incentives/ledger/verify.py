"""`ledger verify`: recompute every cached balance and lot from the transfers and report differences.

Set-based SQL only (a few GROUP BY passes over the book), so it stays fast on millions of transfers.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Per account: the counters recomputed from transfers (`earned` only means something for partners).
# A hold counts as pending until a post or void names it; a post moves its own amount to posted; a void
# moves nothing to posted.
_ACCOUNTS = """
WITH moves AS (
    SELECT t.debit_account_id AS account_id,
           CASE WHEN t.kind IN ('hold', 'void') THEN 0 ELSE t.amount END AS debits_posted,
           0 AS credits_posted,
           CASE WHEN t.kind = 'hold' AND r.id IS NULL THEN t.amount ELSE 0 END AS debits_pending,
           0 AS credits_pending,
           CASE WHEN t.kind = 'reverse' AND t.reverses_id IS NOT NULL THEN -t.amount ELSE 0 END AS earned
    FROM ledger_transfers t LEFT JOIN ledger_transfers r ON r.pending_id = t.id
    UNION ALL
    SELECT t.credit_account_id,
           0,
           CASE WHEN t.kind IN ('hold', 'void') THEN 0 ELSE t.amount END,
           0,
           CASE WHEN t.kind = 'hold' AND r.id IS NULL THEN t.amount ELSE 0 END,
           CASE WHEN t.kind IN ('earn', 'adjust') THEN t.amount ELSE 0 END
    FROM ledger_transfers t LEFT JOIN ledger_transfers r ON r.pending_id = t.id
),
sums AS (
    SELECT account_id, SUM(debits_posted) AS dp, SUM(credits_posted) AS cp,
           SUM(debits_pending) AS dpe, SUM(credits_pending) AS cpe, SUM(earned) AS earned
    FROM moves GROUP BY account_id
),
accounts AS (
    SELECT a.id, a.program_id, a.name, a.kind,
           a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending, a.earned,
           COALESCE(s.dp, 0) AS dp, COALESCE(s.cp, 0) AS cp, COALESCE(s.dpe, 0) AS dpe,
           COALESCE(s.cpe, 0) AS cpe, COALESCE(s.earned, 0) AS sum_earned
    FROM ledger_accounts a LEFT JOIN sums s ON s.account_id = a.id
)
SELECT id, program_id, name,
       CASE WHEN kind = 'partner' THEN 'cached' ELSE 'system' END,
       debits_posted, dp, credits_posted, cp, debits_pending, dpe, credits_pending, cpe, earned, sum_earned,
       CASE WHEN kind IN ('issuance', 'clawback') THEN dp - cp - cpe ELSE cp - dp - dpe END
FROM accounts
WHERE (kind = 'partner' AND (debits_posted <> dp OR credits_posted <> cp OR debits_pending <> dpe
                             OR credits_pending <> cpe OR earned <> sum_earned))
   -- System accounts cache nothing (their counters stay zero) and never go negative on their normal side.
   OR (kind <> 'partner' AND (debits_posted <> 0 OR credits_posted <> 0 OR debits_pending <> 0
                              OR credits_pending <> 0 OR earned <> 0
                              OR CASE WHEN kind IN ('issuance', 'clawback') THEN dp - cp - cpe
                                      ELSE cp - dp - dpe END < 0))
ORDER BY id
"""

# Per lot: what its uses say. Held = uses of unresolved holds; consumed = uses of every other transfer.
_LOTS = """
WITH uses AS (
    SELECT u.lot_id,
           SUM(CASE WHEN t.kind = 'hold' THEN 0 ELSE u.amount END) AS consumed,
           SUM(CASE WHEN t.kind = 'hold' AND r.id IS NULL THEN u.amount ELSE 0 END) AS held
    FROM ledger_lot_uses u
    JOIN ledger_transfers t ON t.id = u.transfer_id
    LEFT JOIN ledger_transfers r ON r.pending_id = t.id
    GROUP BY u.lot_id
)
SELECT l.id, l.amount, t.amount, l.remaining, l.amount - COALESCE(u.consumed, 0) - COALESCE(u.held, 0),
       l.held, COALESCE(u.held, 0)
FROM ledger_lots l
JOIN ledger_transfers t ON t.id = l.transfer_id
LEFT JOIN uses u ON u.lot_id = l.id
WHERE l.amount <> t.amount OR l.account_id <> t.credit_account_id
   OR l.remaining <> l.amount - COALESCE(u.consumed, 0) - COALESCE(u.held, 0)
   OR l.held <> COALESCE(u.held, 0)
ORDER BY l.id
"""

# Per partner account: its available and held points are exactly its lots' remaining and held points.
_ACCOUNT_LOTS = """
WITH lots AS (
    SELECT account_id, SUM(remaining) AS remaining, SUM(held) AS held FROM ledger_lots GROUP BY account_id
)
SELECT a.id, a.credits_posted - a.debits_posted - a.debits_pending, COALESCE(l.remaining, 0),
       a.debits_pending, COALESCE(l.held, 0)
FROM ledger_accounts a LEFT JOIN lots l ON l.account_id = a.id
WHERE a.kind = 'partner'
  AND (a.credits_posted - a.debits_posted - a.debits_pending <> COALESCE(l.remaining, 0)
       OR a.debits_pending <> COALESCE(l.held, 0))
ORDER BY a.id
"""

# Every earn and positive adjustment made exactly one lot; nothing else made one.
_MISSING_LOTS = """
SELECT t.id FROM ledger_transfers t
JOIN ledger_accounts c ON c.id = t.credit_account_id
LEFT JOIN ledger_lots l ON l.transfer_id = t.id
WHERE (t.kind = 'earn' OR (t.kind = 'adjust' AND c.kind = 'partner')) AND l.id IS NULL
ORDER BY t.id
"""


@dataclass(frozen=True)
class Difference:
    what: str

    def __str__(self) -> str:
        return self.what


async def verify(session: AsyncSession) -> list[Difference]:
    """Every difference between the cached state and what the transfers say; empty when the book is sound."""
    found: list[Difference] = []
    for row in await session.execute(text(_ACCOUNTS)):
        (account, program, name, what, dp, dp_, cp, cp_, dpe, dpe_, cpe, cpe_, earned, earned_, balance) = row
        if what == "system" and balance < 0:
            found.append(Difference(f"account {account} ({name}, program {program}): balance {balance} is negative"))
        if what == "system" and not any((dp, cp, dpe, cpe, earned)):
            continue
        found.append(
            Difference(
                f"account {account} ({name}, program {program}): cached debits_posted={dp} credits_posted={cp}"
                f" debits_pending={dpe} credits_pending={cpe} earned={earned}; transfers say"
                f" {dp_} {cp_} {dpe_} {cpe_} {earned_}"
                + (" (a system account caches nothing)" if what == "system" else "")
            )
        )
    for lot, amount, transfer_amount, remaining, remaining_, held, held_ in await session.execute(text(_LOTS)):
        found.append(
            Difference(
                f"lot {lot}: amount={amount} (transfer {transfer_amount}) remaining={remaining} held={held};"
                f" uses say remaining={remaining_} held={held_}"
            )
        )
    for account, available, remaining, held, lot_held in await session.execute(text(_ACCOUNT_LOTS)):
        found.append(
            Difference(
                f"account {account}: available={available} held={held}, lots say remaining={remaining} held={lot_held}"
            )
        )
    for (transfer,) in await session.execute(text(_MISSING_LOTS)):
        found.append(Difference(f"transfer {transfer}: credits points but has no lot"))
    return found
