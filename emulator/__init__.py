"""A faithful stand-in for the RingCentral platform for development, the demo, tests, benchmarks.

It speaks the real protocol over real HTTP: OAuth (JWT bearer and refresh grants with rotation),
webhook subscriptions with the validation handshake, notification delivery with blacklisting and
renewal reminders, the extension directory and the call log, plus a scenario engine that plays calls
of every outcome with their ground truth. `emulator.app.create_emulator_app` builds the ASGI app;
`app.state.emulator` (an `emulator.state.Emulator`) is the in-process control surface.

Imports from our code are limited to `classifiers.payloads` and `classifiers.outcome`.
"""

from emulator.config import ChaosConfig, EmulatorConfig, RateGroup, RateLimit

__all__ = ["ChaosConfig", "EmulatorConfig", "RateGroup", "RateLimit"]
