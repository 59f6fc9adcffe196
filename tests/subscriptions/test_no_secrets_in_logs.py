"""A full credential and subscription cycle logs nothing secret: no JWT, access or refresh token,
verification token, client secret or encryption key appears in any log output."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from emulator.state import Emulator
from service.logging import configure_logging
from service.ringcentral.registry import remove_extension, rotate_secrets
from service.ringcentral.runtime import policy
from tests.subscriptions.harness import CLIENT_SECRET, running

DAY = 24 * 3600.0


def _issued_tokens(emulator: Emulator) -> set[str]:
    tokens = set(emulator.oauth._access) | set(emulator.oauth._refresh)
    tokens |= {s.verification_token for s in emulator.list_subscriptions() if s.verification_token}
    return tokens


@pytest.fixture
def debug_logging() -> Iterator[None]:
    configure_logging(level="debug")
    yield
    structlog.reset_defaults()


@pytest.mark.usefixtures("debug_logging")
async def test_a_full_cycle_logs_no_secret(
    database_url: str, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen_tokens: set[str] = set()
    async with running(database_url, users=3) as harness:
        first, second, third = harness.user_ids()
        for extension_id in (first, second, third):
            await harness.register(extension_id)
        await harness.run_pass()
        await harness.emulator.play(["answered_direct", "voicemail_left"], count=1)
        seen_tokens |= _issued_tokens(harness.emulator)

        await harness.advance(6.5 * DAY)  # refresh and renew
        await harness.run_pass()
        harness.emulator.blacklist_subscription(harness.live_subscriptions()[first].id)
        await harness.advance(3600)
        await harness.run_pass()  # recreate with a new verification token
        seen_tokens |= _issued_tokens(harness.emulator)
        await rotate_secrets(harness.services.engine, harness.runtime.box)
        keeper = harness.runtime.keeper(harness.services.engine, policy(harness.settings))
        await remove_extension(harness.services.engine, keeper, third)
        secrets = {
            *harness.jwts.values(),
            *seen_tokens,
            CLIENT_SECRET,
            harness.settings.secret_keys.get_secret_value() if harness.settings.secret_keys else "",
        } - {""}

    output = capfd.readouterr()
    logged = "\n".join([output.out, output.err, caplog.text])
    assert "tokens.refreshed" in logged  # the cycle really was logged
    assert "subscription.active" in logged
    assert len(secrets) > 10
    leaked = sorted(secret[:12] + "..." for secret in secrets if secret in logged)
    assert leaked == []
