"""Storage: SQLModel tables, the database, repositories and migrations."""

from storage.db import Database
from storage.repositories import Repositories

__all__ = ["Database", "Repositories"]
