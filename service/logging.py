"""structlog configuration for the CLI commands. Library code only calls `structlog.get_logger`.

One pipeline: what the standard library's loggers write (uvicorn's, alembic's) goes through the
same renderer as our structlog lines, so `CALLSIFT_LOG_JSON=true` makes every line JSON.
"""

from __future__ import annotations

import contextvars
import logging
import sys

import structlog

# Set inside the servers callsift embeds (the demo's emulator, test and bench servers): their
# uvicorn lifecycle lines would read as the service's own, so only their warnings are kept.
IN_EMBEDDED_SERVER = contextvars.ContextVar("in_embedded_server", default=False)


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is at the time (test capture replaces it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler this module installs (replaced, never stacked, when called again)."""


def _not_an_embedded_server_s_info(record: logging.LogRecord) -> bool:
    embedded = IN_EMBEDDED_SERVER.get() and record.name.startswith("uvicorn")
    return not embedded or record.levelno >= logging.WARNING


def configure_logging(*, level: str = "info", json: bool = False) -> None:
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    # per-request and per-migration-step lines are noise at info level
    for chatty in ("httpx", "httpcore", "alembic"):
        logging.getLogger(chatty).setLevel(max(numeric_level, logging.WARNING))
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    stamped: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = _OurHandler(_CurrentStderr())
    handler.addFilter(_not_an_embedded_server_s_info)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*stamped, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _OurHandler)] + [handler]
    root.setLevel(numeric_level)
    structlog.configure(
        processors=[
            *stamped,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
