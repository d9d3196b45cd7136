"""The `agentobs` command: run, operator, receiver and migrate.

    agentobs run        receiver, operator and projector in one process (small installs)
    agentobs receiver   only the heartbeat receiver and usage API (scale out behind a Service)
    agentobs operator   only the kopf handlers and the status projector (one leader projects)
    agentobs migrate    apply the database migrations and exit

Every setting is a flag and an environment variable (see `agentobs COMMAND --help`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

import uvloop
from prometheus_client import CollectorRegistry

from agentobs.cli import logs, options
from agentobs.cli.operator_process import operator_tasks, serve_health
from agentobs.receiver.server import serve
from agentobs.settings import ReceiverSettings
from agentobs.store import Store, StoreError

logger = logging.getLogger(__name__)

_COMMANDS = {
    "run": (
        "Run the receiver, the operator and the projector in one process.",
        {options.DATABASE, options.RECEIVER, options.OPERATOR},
    ),
    "receiver": (
        "Run only the heartbeat receiver and the usage API.",
        {options.DATABASE, options.RECEIVER},
    ),
    "operator": (
        "Run only the kopf handlers and the status projector.",
        {options.DATABASE, options.OPERATOR},
    ),
    "migrate": ("Apply pending database migrations and exit.", {options.DATABASE}),
}


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with one subcommand per mode."""
    parser = argparse.ArgumentParser(
        prog="agentobs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (summary, groups) in _COMMANDS.items():
        command = commands.add_parser(name, help=summary, description=summary)
        options.add_options(command, groups)
        # Errors in a command's options print that command's usage.
        command.set_defaults(command_parser=command)
    return parser


def build_receiver_settings(values: dict[str, Any]) -> ReceiverSettings:
    """Map the command's option values to the receiver's settings."""
    return ReceiverSettings(
        host=values["listen_host"],
        port=values["port"],
        dsn=values["database_url"],
        body_limit_bytes=values["body_limit"],
        max_models=values["max_models"],
        token_audience=values["token_audience"],
        static_token_file=values["static_tokens_file"],
        allow_unauthenticated=values["allow_unauthenticated"],
        kubeconfig=values["kubeconfig"],
        max_unregistered_agents=values["max_unregistered_agents"],
        sample_retention_seconds=values["sample_retention"],
        active_window_seconds=float(values.get("stale_after") or 300),
    )


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command; return the exit code."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    command_parser = arguments.command_parser
    values = options.resolve(arguments, command_parser)
    logs.configure(values["log_level"], values["log_format"])
    receiver_settings = None
    if arguments.command in ("run", "receiver"):
        try:
            receiver_settings = build_receiver_settings(values)
        except ValueError as error:
            command_parser.error(str(error))
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            return runner.run(_run(arguments.command, values, receiver_settings))
    except KeyboardInterrupt:
        return 130


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """Return uvloop's loop factory, after moving startup objects out of the collector's way.

    uvloop handles more heartbeats per second than the standard loop on the same
    CPU. gc.freeze() keeps the objects created by imports and startup out of every
    later collection, which shortens the pauses that show up as latency outliers.
    """
    gc.collect()
    gc.freeze()
    return uvloop.new_event_loop


async def _run(
    command: str, values: dict[str, Any], receiver_settings: ReceiverSettings | None
) -> int:
    wants_migration = command == "migrate" or values.get("migrate_on_start")
    if wants_migration and not await _migrate(values["database_url"], wait=command != "migrate"):
        return 1
    if command == "migrate":
        return 0

    registry = CollectorRegistry()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    parts: list[Coroutine[Any, Any, None]] = []
    if receiver_settings is not None:
        parts.append(serve(receiver_settings, registry=registry, stop=stop))
    if command in ("run", "operator"):
        parts.append(operator_tasks(values, registry=registry, stop=stop))
    if command == "operator":
        parts.append(serve_health(values, registry=registry, stop=stop))

    tasks = [asyncio.create_task(part) for part in parts]
    # When any part ends (a signal, or a failure), the others stop too.
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    await asyncio.wait(pending)
    failed = [task for task in tasks if not task.cancelled() and task.exception() is not None]
    for task in failed:
        logger.error("agentobs stopped on an error error=%r", task.exception())
    return 1 if failed else 0


async def _migrate(dsn: str, *, wait: bool) -> bool:
    """Apply migrations; with `wait`, retry until the database is reachable."""
    delay = 1.0
    while True:
        store = None
        try:
            store = await Store.connect(dsn, pool_size=1)
            applied = await store.migrate()
            logger.info("database migrated applied=%s", ",".join(applied) or "none")
            return True
        except (StoreError, OSError) as error:
            if not wait:
                logger.error("database migration failed error=%s", error)
                return False
            logger.warning(
                "database not ready for migration, retrying in %.0f s error=%s", delay, error
            )
        finally:
            if store is not None:
                with contextlib.suppress(Exception):
                    await store.close()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)
