"""HTTP routes of the emulator: the RingCentral REST surface and the `/_emulator` admin API."""
