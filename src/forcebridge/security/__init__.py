"""Security primitives: API tokens, secrets at rest, the outbound URL guard and admin passwords.

Each module is pure (no database, no web framework): services store what these functions return
and call them at the edges. See ``docs``/DESIGN.md §4 and §5 for the promises they back.
"""
