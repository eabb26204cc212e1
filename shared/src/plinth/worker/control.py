"""Pause/resume: a gate the worker passes before taking each message."""

from __future__ import annotations

import asyncio

from plinth.domain.states import Stage
from plinth.messaging.events import ControlCommand


class PauseGate:
    """Open while running; closed while paused. Handlers wait at the gate, they are not lost."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()

    @property
    def paused(self) -> bool:
        return not self._open.is_set()

    def pause(self) -> None:
        self._open.clear()

    def resume(self) -> None:
        self._open.set()

    async def wait_open(self) -> None:
        await self._open.wait()


def applies_to(command: ControlCommand, stage: Stage) -> bool:
    return command.stage == "all" or command.stage == stage
