"""Alembic environment: the engine comes from ``forcebridge.db.alembic_config``."""

from alembic import context

from forcebridge import models  # noqa: F401  (registers the tables)
from forcebridge.admin import models as admin_models  # noqa: F401  (UI sessions)
from forcebridge.bulk import models as bulk_models  # noqa: F401  (bulk jobs)
from forcebridge.db import Base
from forcebridge.events import models as event_models  # noqa: F401  (outbound events)
from forcebridge.jobs import models as _automation_models  # noqa: F401
from forcebridge.quota import models as quota_models  # noqa: F401  (quota guard)
from forcebridge.sync import link_models  # noqa: F401  (comment and attachment links)
from forcebridge.sync import models as sync_models  # noqa: F401  (the sync engine's tables)

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
