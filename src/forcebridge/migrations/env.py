"""Alembic environment: the engine comes from ``forcebridge.db.alembic_config``."""

from alembic import context

from forcebridge import models  # noqa: F401  (registers the tables)
from forcebridge.jobs import models as _automation_models  # noqa: F401
from forcebridge.sync import models as sync_models  # noqa: F401  (the sync engine's tables)
from forcebridge.sync import link_models  # noqa: F401  (comment and attachment links)
from forcebridge.db import Base

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
