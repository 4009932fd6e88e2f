"""Routing tables: which function answers which command, button, conversation step or file.

Each feature module in ``handlers/`` owns one :class:`Router` and decorates its functions; the
``handlers`` package includes the routers in order. The dispatcher consults the tables for every update
(see :mod:`bot.dispatch` for the order in which they are tried).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.context import Ctx
    from bot.services import Services

Handler = Callable[["Ctx"], Awaitable[None]]
#: A long-running loop started with the application: ``async def loop(services, stopping)``; it must
#: return soon after ``stopping`` is set (it is cancelled if it does not).
ServiceLoop = Callable[["Services", asyncio.Event], Awaitable[None]]
#: Roles are the values of :class:`storage.models.Role` ("worker", "facilitator", "admin").
Roles = frozenset[str] | None


@dataclass(frozen=True, slots=True)
class Route:
    """A handler plus the roles allowed to reach it (None: everyone)."""

    handler: Handler
    roles: Roles = None
    #: For buttons: the conversation states in which the button is still valid (None: any time).
    states: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """A slash command, with the msgid that describes it in Telegram's command menu."""

    name: str
    route: Route
    description: str | None = None
    order: int = 100


@dataclass(frozen=True, slots=True)
class MenuEntry:
    """A button of the main menu (shown by /start)."""

    label: str
    data: str
    order: int
    roles: Roles = None


@dataclass(slots=True)
class Router:
    """The routes of one feature."""

    name: str
    commands: dict[str, Command] = field(default_factory=dict)
    callbacks: dict[str, Route] = field(default_factory=dict)
    steps: dict[str, Route] = field(default_factory=dict)
    prompts: dict[str, Handler] = field(default_factory=dict)
    start_payloads: dict[str, Route] = field(default_factory=dict)
    documents: list[Route] = field(default_factory=list)
    menu: list[MenuEntry] = field(default_factory=list)
    fallback: Handler | None = None
    cancels: dict[str, Handler] = field(default_factory=dict)
    services: list[ServiceLoop] = field(default_factory=list)

    def command(
        self,
        *names: str,
        roles: Iterable[str] | None = None,
        description: str | None = None,
        order: int = 100,
    ) -> Callable[[Handler], Handler]:
        """Answer ``/name`` (any of ``names``) from any state; ``description`` is a msgid."""

        def register(fn: Handler) -> Handler:
            route = Route(fn, _roles(roles))
            for i, name in enumerate(names):
                self.commands[name] = Command(name, route, description if i == 0 else None, order)
            return fn

        return register

    def callback(
        self,
        prefix: str,
        *,
        roles: Iterable[str] | None = None,
        states: Iterable[StrEnum | str] | None = None,
    ) -> Callable[[Handler], Handler]:
        """Answer buttons whose callback data is ``prefix`` or starts with ``prefix + ':'``."""

        def register(fn: Handler) -> Handler:
            allowed = frozenset(str(s) for s in states) if states is not None else None
            self.callbacks[prefix] = Route(fn, _roles(roles), allowed)
            return fn

        return register

    def step(self, *states: StrEnum | str) -> Callable[[Handler], Handler]:
        """Answer any message (text, contact, photo...) a user sends while in one of ``states``."""

        def register(fn: Handler) -> Handler:
            for state in states:
                self.steps[str(state)] = Route(fn)
            return fn

        return register

    def prompt(self, *states: StrEnum | str) -> Callable[[Handler], Handler]:
        """Ask the question of ``states`` (called on entering the state and to re-ask it)."""

        def register(fn: Handler) -> Handler:
            for state in states:
                self.prompts[str(state)] = fn
            return fn

        return register

    def start_payload(
        self, prefix: str, *, roles: Iterable[str] | None = None
    ) -> Callable[[Handler], Handler]:
        """Answer deep links ``t.me/<bot>?start=<prefix>...``."""

        def register(fn: Handler) -> Handler:
            self.start_payloads[prefix] = Route(fn, _roles(roles))
            return fn

        return register

    def document(self, *, roles: Iterable[str] | None = None) -> Callable[[Handler], Handler]:
        """Answer a file sent outside any conversation (the handler may decline by returning)."""

        def register(fn: Handler) -> Handler:
            self.documents.append(Route(fn, _roles(roles)))
            return fn

        return register

    def on_cancel(self, flow: str) -> Callable[[Handler], Handler]:
        """Handle /batal for states of ``flow`` (states are named ``"<flow>.<step>"``)."""

        def register(fn: Handler) -> Handler:
            self.cancels[flow] = fn
            return fn

        return register

    def service(self, fn: ServiceLoop) -> ServiceLoop:
        """Run ``fn(services, stopping)`` in the background while the application runs."""
        self.services.append(fn)
        return fn

    def unknown(self, fn: Handler) -> Handler:
        """Answer input that nothing else understands (one router sets this)."""
        self.fallback = fn
        return fn

    def menu_entry(
        self, label: str, data: str, *, order: int, roles: Iterable[str] | None = None
    ) -> None:
        """Add a main-menu button (``label`` is a msgid; ``data`` must have a callback route)."""
        self.menu.append(MenuEntry(label, data, order, _roles(roles)))


def _roles(roles: Iterable[str] | None) -> Roles:
    return frozenset(str(r) for r in roles) if roles is not None else None


@dataclass(slots=True)
class Routes:
    """The merged tables of every router, built once when the application is built."""

    commands: dict[str, Command] = field(default_factory=dict)
    callbacks: dict[str, Route] = field(default_factory=dict)
    steps: dict[str, Route] = field(default_factory=dict)
    prompts: dict[str, Handler] = field(default_factory=dict)
    start_payloads: dict[str, Route] = field(default_factory=dict)
    documents: list[Route] = field(default_factory=list)
    menu: list[MenuEntry] = field(default_factory=list)
    fallback: Handler | None = None
    cancels: dict[str, Handler] = field(default_factory=dict)
    services: list[ServiceLoop] = field(default_factory=list)

    @classmethod
    def merge(cls, routers: Iterable[Router]) -> Routes:
        """Merge routers in order; a name registered twice is a programming error."""
        routes = cls()
        for router in routers:
            for table, mine in (
                (routes.commands, router.commands),
                (routes.callbacks, router.callbacks),
                (routes.steps, router.steps),
                (routes.prompts, router.prompts),
                (routes.start_payloads, router.start_payloads),
                (routes.cancels, router.cancels),
            ):
                clash = table.keys() & mine.keys()
                if clash:
                    raise ValueError(f"router {router.name!r} registers {sorted(clash)} again")
                table.update(mine)  # type: ignore[arg-type]
            routes.documents.extend(router.documents)
            routes.services.extend(router.services)
            routes.menu.extend(router.menu)
            if router.fallback is not None:
                if routes.fallback is not None:
                    raise ValueError(f"router {router.name!r} sets a second fallback")
                routes.fallback = router.fallback
        routes.menu.sort(key=lambda entry: entry.order)
        missing = [e.data for e in routes.menu if routes.find_callback(e.data) is None]
        if missing:
            raise ValueError(f"menu entries without a button route: {missing}")
        return routes

    def find_callback(self, data: str) -> Route | None:
        """The route for callback ``data``: the longest registered prefix at a ':' boundary."""
        key = data
        while True:
            route = self.callbacks.get(key)
            if route is not None:
                return route
            if ":" not in key:
                return None
            key = key.rsplit(":", 1)[0]

    def find_start_payload(self, payload: str) -> tuple[Route, str] | None:
        """The deep-link route whose prefix starts ``payload``, and the rest of the payload."""
        for prefix, route in self.start_payloads.items():
            if payload.startswith(prefix):
                return route, payload[len(prefix) :]
        return None
