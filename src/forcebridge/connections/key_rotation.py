"""Re-encrypting every stored secret under the newest key of the ring (rotation step 2).

Encrypted columns are found by naming convention in the database's own schema (reflected, so a
feature's table counts even when its models module was never imported): a column is encrypted when
its name starts with ``encrypted_`` or ends with ``_credentials`` (``installation_secrets.
encrypted_value``, ``connections.jira_credentials``, ``webhook_secrets.encrypted_secret``...).
Everything is rewritten in one transaction: a failure (a value no configured key can open)
leaves the database as it was, still readable with the old keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Engine, MetaData, Table, select, update

from forcebridge.container import Container
from forcebridge.security.secrets import SecretBox


@dataclass(frozen=True)
class RotationReport:
    values: int
    columns: list[str]
    primary_key_fingerprint: str


def encrypted_columns(engine: Engine) -> list[tuple[Table, Column[Any]]]:
    """Every (table, column) of the database holding ciphertext, by the naming convention above."""
    schema = MetaData()
    schema.reflect(bind=engine)
    found: list[tuple[Table, Column[Any]]] = []
    for table in schema.sorted_tables:
        for column in table.columns:
            if column.name.startswith("encrypted_") or column.name.endswith("_credentials"):
                found.append((table, column))
    return found


def reencrypt_all(container: Container, secrets: SecretBox | None = None) -> RotationReport:
    """Rewrite every encrypted value under the newest key of ``secrets`` (or the container's)."""
    box = secrets or container.secrets
    count = 0
    names: list[str] = []
    with container.session() as session:
        for table, column in encrypted_columns(container.engine):
            names.append(f"{table.name}.{column.name}")
            key_columns = list(table.primary_key.columns)
            rows = session.execute(select(*key_columns, column).where(column.is_not(None))).all()
            for row in rows:
                *key_values, ciphertext = row
                condition = [
                    key_column == value
                    for key_column, value in zip(key_columns, key_values, strict=True)
                ]
                session.execute(
                    update(table).where(*condition).values({column.name: box.rotate(ciphertext)})
                )
                count += 1
    return RotationReport(
        values=count, columns=names, primary_key_fingerprint=box.primary_key_fingerprint
    )
