"""Pause/resume: a gate the worker passes before taking each message."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from plinth.domain.states import Stage
from plinth.messaging.events import ControlCommand

log = logging.getLogger(__name__)

CONTROL_SCOPE_HEADER = "plinth-control-scope"
"""Kafka header that limits a command to the workers started with the same scope (one test or
demo run on a shared Kafka must not pause another's workers)."""


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


def command_for(
    body: bytes, headers: Mapping[str, Any], stage: Stage, scope: str | None
) -> ControlCommand | None:
    """The command in a control record, if it is valid and meant for ``stage`` (and ``scope``)."""
    try:
        command = ControlCommand.model_validate_json(body)
    except ValidationError as exc:
        log.warning("ignoring an invalid control command: %s", exc)
        return None
    if not applies_to(command, stage):
        return None
    if scope is not None:
        sent = headers.get(CONTROL_SCOPE_HEADER)
        if isinstance(sent, bytes):
            sent = sent.decode("utf-8", "replace")
        if sent != scope:
            log.info("ignoring a %s command outside scope %s", command.action, scope)
            return None
    log.info("%s: %s by %s", stage, command.action, command.issued_by)
    return command


def apply_command(command: ControlCommand, gate: PauseGate, consumers: Iterable[Any]) -> None:
    """Close or open the gate, and stop or restart fetching on every consumer's partitions
    (while paused the gate holds any record already fetched)."""
    pause = command.action == "pause"
    if pause:
        gate.pause()
    else:
        gate.resume()
    for consumer in consumers:
        if consumer is None:
            continue
        assigned = consumer.assignment()
        if pause:
            consumer.pause(*assigned)
        else:
            consumer.resume(*assigned)
