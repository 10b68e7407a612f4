"""The ADF JSON schema (vendored in tests/specs), as a validator the tests share."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema
from tests.vendor_specs import ADF_SCHEMA, load_spec


@cache
def adf_validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(load_spec(ADF_SCHEMA))


def assert_valid_adf(document: dict[str, Any]) -> None:
    errors = list(adf_validator().iter_errors(document))
    assert not errors, f"invalid ADF {json.dumps(document)}: {errors[0].message}"
