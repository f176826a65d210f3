"""Departments, their topics and their offices."""
