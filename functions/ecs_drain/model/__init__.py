"""The vocabulary and the state: what travels between the steps, the events from outside, ARNs. Imports nothing of
ecs_drain."""
