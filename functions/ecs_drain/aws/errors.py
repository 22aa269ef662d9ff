"""What AWS said went wrong: the one reading of a botocore ClientError's code."""

from __future__ import annotations

from botocore.exceptions import ClientError


def error_code(error: ClientError) -> str:
    """The error code AWS returned ("ThrottlingException", "ClusterNotFoundException", ...), or "" if none."""
    return str(error.response.get("Error", {}).get("Code", ""))
