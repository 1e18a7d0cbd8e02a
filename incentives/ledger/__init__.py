"""The points ledger: double-entry, integer points, append-only, idempotent, with expiring lots."""
