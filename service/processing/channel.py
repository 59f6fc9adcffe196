"""What the service and its processor process (CALLSIFT_PROCESSOR_MODE=process) say to each
other over one socket pair, one line a message.

Service -> processor: first the settings (one JSON object, the secrets with them: the processor's
process runs the call-log sync, which needs the app's credentials and the keys of the stored
tokens; the socket pair is the two processes' own), then one-letter lines: `w <monotonic s>
<count>` (events or records were stored: look now; the count is what the webhook has received so
far, for service.processing.standback), `d` (the directory was synced), `s` (credentials were
made due for a call-log sync at once: a subscription was re-created; the sync runs in the
processor's process, which re-reads what the call log covers after each window it reads).
Processor -> service: one `ProcessorReport` a line, as JSON, for the service's /metrics; the
first, an empty one, once its processor runs.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import SecretStr

from service.metrics import ProcessorReport
from service.processing.standback import Received
from service.settings import Settings

WAKE = b"w\n"
DIRECTORY_SYNCED = b"d\n"
CALL_LOG_DUE = b"s\n"

SECRETS = frozenset(
    name
    for name, field in Settings.model_fields.items()
    if field.annotation in (SecretStr, SecretStr | None)
)


def settings_line(settings: Settings) -> bytes:
    values: dict[str, Any] = settings.model_dump(mode="json", exclude=set(SECRETS))
    for name in SECRETS:
        secret: SecretStr | None = getattr(settings, name)
        values[name] = None if secret is None else secret.get_secret_value()
    return orjson.dumps(values) + b"\n"


def settings_of(line: bytes) -> Settings:
    """The service's settings as sent, its secrets among them."""
    values: dict[str, Any] = orjson.loads(line)
    return Settings(_env_file=None, **values)


def wake_line(received: Received) -> bytes:
    return b"w %.6f %d\n" % received


def is_wake(line: bytes) -> bool:
    """A `w` line, bare or with the webhook's count."""
    return line == WAKE or line.startswith(WAKE[:1] + b" ")


def received_of(line: bytes) -> Received | None:
    """The webhook's count in a wake-up line (None in a bare `w`)."""
    fields = line.split()
    if len(fields) != 3:
        return None
    return Received(float(fields[1]), int(fields[2]))


def report_line(report: ProcessorReport) -> bytes:
    return orjson.dumps(report) + b"\n"


def report_of(line: bytes) -> ProcessorReport:
    return ProcessorReport(**orjson.loads(line))
