"""Paths to the vendored vendor specs (``tests/specs/``) for contract tests."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SPECS_DIR = Path(__file__).parent / "specs"
ADF_SCHEMA = SPECS_DIR / "atlassian-adf-schema-v1-full.json"
SALESFORCE_DESCRIBE_SCHEMA = SPECS_DIR / "salesforce-sobject-describe.schema.json"
JIRA_OPENAPI = SPECS_DIR / "jira-cloud-platform-swagger-v3.v3.json"


@cache
def load_spec(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
