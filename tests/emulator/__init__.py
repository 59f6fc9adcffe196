"""Tests of the RingCentral platform emulator."""
