"""The Lambda entry points: parse the event, call a step, shape the result."""
