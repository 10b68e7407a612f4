"""The admin API (``/api/v1``): connections, bindings, mappings and API tokens (HTTP Basic)."""
