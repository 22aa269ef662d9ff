"""An offline AWS for ecs-drain: moto, an ECS scheduler simulator, API limits, simulated time, CloudFormation."""

import os
from pathlib import Path

# moto's EC2 loads some 2,600 AMIs for every new backend (a quarter of a second a world); the emulation needs one
# to launch instances from. moto reads MOTO_AMIS_PATH when it is first imported, so this comes before any import
# of moto (tests/conftest.py imports this package first for the same reason).
os.environ.setdefault("MOTO_AMIS_PATH", str(Path(__file__).with_name("amis.json")))
