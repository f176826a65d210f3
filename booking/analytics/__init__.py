"""Supervisor analytics: load, channels, topics, deadlines and ratings, with exports."""
