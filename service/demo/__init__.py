"""Demo mode: the RingCentral emulator embedded in the service, a small company registered
through the real JWT and subscription flow, and simulated calls of every kind."""
