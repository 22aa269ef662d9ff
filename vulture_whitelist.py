"""Names vulture cannot see used (make check runs vulture at 60% confidence, its lowest: every unused function,
class, method, attribute and variable is reported). Each group says who uses them."""

# ruff: noqa
# fmt: off

# TypedDict keys: tests/typeddict_keys.py lists them all at check time.

# Called by the frameworks they are written for: http.server's request handler (the emulation's ResponseURL server),
# Step Functions' Lambda context object (the emulation's and the fakes' context), crhelper (_send), pytest (hooks and
# autouse fixtures), and the template or a strategy naming a handler by its dotted path (seed_handler).
_.do_PUT
_.close_connection
_.log_message
invoked_function_arn
memory_limit_in_mb
function_version
aws_request_id
log_group_name
log_stream_name
_.get_remaining_time_in_millis
_._send
no_response_url_anywhere
fresh_clients_in_a_region
no_aws
pytest_collection_modifyitems
seed_handler
small_history
refusing_handler
unreadable_state_handler

# The emulation's CloudFormation API answers by action name (emulation/cloudformation.py StackApi).
_.DescribeStacks
_.ListStackResources
_.GetTemplate

# moto's ECS answers from these attributes of its own objects; the emulation writes them, moto reads them, and the
# ECS API replacements are looked up by name (emulation/ecs_api.py _ANSWERED_HERE).
_.pending_tasks_count
_.running_tasks_count
_.stopped_reason
_.started_at
_.list_container_instances
_.list_tasks

# Type-only imports that a typing.cast names in a string (instance_types, the emulation's placement tests).
InstanceTypeType
