"""Project bindings, entity and field mappings, and the default mappings of standard objects."""
