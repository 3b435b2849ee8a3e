"""An APP for the daemon's log and tracing tests: handlers that log through structlog and the
stdlib `logging` module, on the event loop and in a worker thread."""

from __future__ import annotations

import logging

import structlog

from asyncworker import ActivityRegistry

registry = ActivityRegistry(task_list="logs")


@registry.activity(start_to_close=30)
async def shout(text: str) -> str:
    structlog.get_logger("app").info("shouting", text=text)
    logging.getLogger("app.std").info("stdlib async %s", text)
    return text.upper()


@registry.activity(start_to_close=30)
def whisper(text: str) -> str:
    structlog.get_logger("app").info("whispering", text=text)
    logging.getLogger("app.std").warning("stdlib sync %s", text)
    return text.lower()
