"""incentives: partner incentive and engagement service."""

__version__ = "0.1.0"
