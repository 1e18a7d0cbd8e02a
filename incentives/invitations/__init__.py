"""Invitations: a program enrols a partner that may already work with other programs, by its manager's e-mail."""
