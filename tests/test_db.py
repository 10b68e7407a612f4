"""Database plumbing: migrations, SQLite pragmas, UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, text

from forcebridge.db import (
    create_database_engine,
    create_session_factory,
    migrate,
    normalize_database_url,
    session_scope,
)
from forcebridge.models import AdminUser


def test_migrations_create_every_table_and_are_idempotent(database_url: str) -> None:
    engine = create_database_engine(database_url)
    migrate(engine)
    migrate(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"connections", "api_tokens", "associations", "field_mappings"} <= tables
    engine.dispose()


def test_the_migrations_have_one_head() -> None:
    """New migrations follow one line (``down_revision`` = the current head), never a branch."""
    from alembic.script import ScriptDirectory

    from forcebridge.db import alembic_config

    script = ScriptDirectory.from_config(alembic_config(create_database_engine("sqlite://")))
    assert len(script.get_heads()) == 1


def test_a_database_at_the_first_releases_four_heads_upgrades_to_the_one_head(
    database_url: str,
) -> None:
    """The first landed release left databases at the heads 0004-0007 (one branch a feature)."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from forcebridge.db import alembic_config

    engine = create_database_engine(database_url)
    config = alembic_config(engine)
    for revision in ("0004", "0005", "0006", "0007"):
        command.upgrade(config, revision)
    migrate(engine)
    with engine.connect() as connection:
        versions = [
            row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))
        ]
    assert versions == [ScriptDirectory.from_config(config).get_current_head()]
    engine.dispose()


def test_the_migrations_build_exactly_the_schema_the_models_describe(database_url: str) -> None:
    """Every table, column, type, index and constraint of the models, and nothing else: a model
    changed without its migration (or the reverse) fails here, on SQLite and on PostgreSQL."""
    import importlib
    import pkgutil

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import forcebridge
    from forcebridge.db import Base

    for module in pkgutil.walk_packages(forcebridge.__path__, "forcebridge."):
        if module.name.endswith("models") and ".sandbox." not in module.name:
            importlib.import_module(module.name)
    engine = create_database_engine(database_url)
    migrate(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


def test_datetimes_come_back_aware_and_in_utc(database_url: str) -> None:
    engine = create_database_engine(database_url)
    migrate(engine)
    factory = create_session_factory(engine)
    moment = datetime(2026, 1, 17, 14, 34, tzinfo=timezone(timedelta(hours=2)))
    with session_scope(factory) as session:
        session.add(AdminUser(id="u1", username="a", password_hash="x", created_at=moment))
    with session_scope(factory) as session:
        stored = session.get(AdminUser, "u1")
        assert stored is not None
        assert stored.created_at == moment
        assert stored.created_at.tzinfo == UTC
    engine.dispose()


def test_naive_datetimes_are_refused(database_url: str) -> None:
    engine = create_database_engine(database_url)
    migrate(engine)
    factory = create_session_factory(engine)
    with pytest.raises(Exception, match="naive"), session_scope(factory) as session:
        session.add(
            AdminUser(id="u2", username="b", password_hash="x", created_at=datetime(2026, 1, 1))
        )
    engine.dispose()


@pytest.mark.parametrize(
    ("given", "expected_driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_database_urls_use_psycopg3_for_postgresql(given: str, expected_driver: str) -> None:
    assert normalize_database_url(given).startswith(expected_driver + ":")
