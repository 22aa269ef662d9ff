"""`ecs-drain`: watch a drain live, or start one by hand, through the deployed state machine."""
