"""Webhooks for CRMs (Standard Webhooks): subscriptions per program, deliveries written with the event."""
