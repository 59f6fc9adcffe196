"""The fault suite (tracker issue 12): `callsift run` killed, cut off from its database, or killed
mid-batch, on SQLite and PostgreSQL, and what must hold afterwards."""
