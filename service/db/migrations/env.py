"""Alembic environment: migrations run on a connection handed over by `service.db.migrate`."""

from alembic import context

from service.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    msg = "run migrations through `callsift db upgrade`, which provides the connection"
    raise RuntimeError(msg)

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
