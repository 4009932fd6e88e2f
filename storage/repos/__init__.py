"""Repositories: every SQL query of the application, grouped by feature."""
