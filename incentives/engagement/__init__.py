"""Engagement: achievements (badges; time-boxed ones are challenges) and streaks, derived from lead events."""
