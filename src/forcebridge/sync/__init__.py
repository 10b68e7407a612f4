"""The sync engine: field mapping and value conversion (pure), push and pull of mapped values."""
