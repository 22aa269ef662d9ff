"""An offline AWS for ecs-drain: moto, an ECS scheduler simulator, API limits, simulated time, CloudFormation."""
