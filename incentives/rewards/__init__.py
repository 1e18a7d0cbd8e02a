"""Rewards: catalog, redemption workflow, MDF allocations and claims."""
