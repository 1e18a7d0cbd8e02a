"""Rules: CEL expressions, versioned rules, event → award processing, simulation, default rule set."""
