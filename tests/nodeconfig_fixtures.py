"""ECR tokens in the real shape, and the names the node-config tests share."""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any, Optional

HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
MARKER = "nodeconfig-secret-Qx7"
NOW = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.timezone.utc)


def ecr_password(expiration: Optional[float]) -> str:
    """An ECR password in the real shape (research aws-side A3); the payload carries the marker."""
    doc: dict[str, Any] = {"payload": MARKER, "datakey": "AQEBAHij" + MARKER, "version": "2", "type": "DATA_KEY"}
    if expiration is not None:
        doc["expiration"] = int(expiration)
    return base64.b64encode(json.dumps(doc).encode()).decode()


def ecr_auth(expiration: Optional[float]) -> str:
    return base64.b64encode(f"AWS:{ecr_password(expiration)}".encode()).decode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


EXPIRED = NOW.timestamp() - 3600
VALID = NOW.timestamp() + 5 * 3600
