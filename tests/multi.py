"""Several bot processes behind one address, for the multi-instance tests.

``Cluster`` starts N ``python -m bot`` processes in webhook mode on one PostgreSQL database and a
round-robin balancer in front of them; the emulator pushes updates to the balancer exactly as Telegram
pushes them to a load balancer.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import sys
from pathlib import Path
from types import TracebackType

import aiohttp
from aiohttp import web

from bot.emulator import BotApiEmulator
from tests.support import ADMIN_ID, TEST_DATA_KEY, TEST_TOKEN

SECRET = "multi-secret"


def free_port() -> int:
    """A TCP port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Balancer:
    """Round-robin reverse proxy: each POST goes to the next backend; records who served what."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self._next = itertools.cycle(range(len(backends)))
        self.served: list[int] = []
        self.port = free_port()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        index = next(self._next)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-telegram")}
        url = f"http://127.0.0.1:{self.backends[index]}{request.path}"
        async with self._session.post(
            url, data=body, headers={**headers, "Content-Type": "application/json"}
        ) as resp:
            self.served.append(index)
            return web.Response(status=resp.status, body=await resp.read())

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()


class Cluster:
    """N bot processes + a balancer + the emulator, on one PostgreSQL database."""

    def __init__(self, database_url: str, tmp: Path, *, processes: int = 2, **env: str) -> None:
        self.database_url = database_url
        self.tmp = tmp
        self.count = processes
        self.extra_env = env
        self.emu = BotApiEmulator(token=TEST_TOKEN)
        self.ports = [free_port() for _ in range(processes)]
        self.balancer = Balancer(self.ports)
        self.procs: list[asyncio.subprocess.Process] = []

    def _env(self, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
        env.update(
            TELEGRAM_BOT_TOKEN=TEST_TOKEN,
            BOT_API_URL=self.emu.base_url,
            DATABASE_URL=self.database_url,
            DATA_KEY=TEST_DATA_KEY,
            ADMIN_IDS=str(ADMIN_ID),
            WEBHOOK_URL=f"http://127.0.0.1:{self.balancer.port}/tg",
            WEBHOOK_SECRET=SECRET,
            HOST="127.0.0.1",
            PORT=str(port),
            LOG_LEVEL="WARNING",
            **self.extra_env,
        )
        return env

    async def __aenter__(self) -> Cluster:
        try:
            return await self._start()
        except BaseException:
            await self.__aexit__(None, None, None)  # never leave bot processes behind
            raise

    async def _start(self) -> Cluster:
        await self.emu.start()
        await self.balancer.start()
        for index, port in enumerate(self.ports):
            log = (self.tmp / f"bot{index}.log").open("wb")
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", env=self._env(port), stdout=log, stderr=log
            )
            self.procs.append(proc)
        await self.emu.wait_for(
            lambda: len(self.emu.calls_for("setWebhook")) >= self.count, timeout=60
        )
        for port in self.ports:
            await self._wait_ready(port)
        return self

    async def _wait_ready(self, port: int) -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"bot on port {port} never became ready")

    def logs(self) -> str:
        return "\n".join(
            (self.tmp / f"bot{i}.log").read_text(errors="replace") for i in range(self.count)
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
        await self.balancer.stop()
        await self.emu.stop()
