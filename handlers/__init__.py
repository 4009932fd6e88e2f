"""Feature handlers. ``routers()`` is the one place that lists them, in order.

Order matters only for the main menu (each entry has an explicit ``order``) and for documents sent
outside a conversation (the first router whose document route allows the user's role takes it).
Commands, buttons and steps are keyed by name, and registering one twice fails at start-up.
"""

from __future__ import annotations

from bot.router import Router


def routers() -> list[Router]:
    """Every feature's router; ``common`` last because it owns the fallback for unknown input."""
    from handlers import (
        admin,
        broadcast,
        claims,
        common,
        coverage,
        facilitator,
        privacy,
        registration,
    )

    return [
        registration.router,
        coverage.router,
        claims.router,
        admin.router,
        broadcast.router,
        facilitator.router,
        privacy.router,
        common.router,
    ]
