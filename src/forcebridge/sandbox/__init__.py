"""Local emulators of the Jira Cloud and Salesforce REST APIs (the sandbox).

An independent implementation of the vendors' contracts: nothing here imports ForceBridge's own
clients, so the sandbox can prove that those clients speak the real protocols.

    storage.py     JSON documents in memory, written through to SQLite when a path is given
    operator.py    the operator API under /__sandbox/: request log, fault injection, reset
    jira/          the Jira Cloud emulator (REST v2 + v3, OAuth 3LO, webhooks)
    salesforce/    the Salesforce emulator (REST, OAuth, SOQL, composite, outbound messages)
    tls.py         the local certificate authority and server certificates
    server.py      runs both emulators (``forcebridge sandbox``)
"""
