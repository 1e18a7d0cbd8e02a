"""Leads: lifecycle, matching and offer waves, pick list, reservation, feedback gate, escalation."""
