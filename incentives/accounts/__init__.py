"""Programs, orgs, memberships, users, roles, authentication and API tokens."""
