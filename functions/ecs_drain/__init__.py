"""ecs-drain: drain ECS container instances before CloudFormation deletes the capacity under them."""

__version__ = "1.2.0.dev0"
