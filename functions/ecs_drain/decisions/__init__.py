"""What a check decides from what it saw, and how it is said: pure functions of their arguments (no client, no clock,
no I/O; an import-linter contract holds the whole package to that), pinned by tables in tests/unit/decisions/."""
