"""The Salesforce emulator: REST API v31.0 to v66.0, OAuth, SOQL, composite, outbound messages.

ids.py       18-character ids (key prefix + checksum suffix), 15-character input
schema.py    the org's objects and fields, describe and describeGlobal
records.py   validation, transactional writes, system fields, Files, JSON form
soql.py      SOQL tokenizer, parser and evaluator
auth.py      connected-app credentials and the OAuth token endpoint's grants
api.py       the versioned REST handlers and their route table (composite dispatches on it)
outbound.py  outbound messages (SOAP notifications with retries until acknowledged)
seed.py      users and deterministic demo data
app.py       ``SalesforceSandbox``: wiring, FastAPI app and operator routes
"""

from forcebridge.sandbox.salesforce.app import SalesforceSandbox

__all__ = ["SalesforceSandbox"]
