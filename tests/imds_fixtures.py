"""One loopback instance-metadata service for every test that needs IMDS, set to the variant each one needs.

The real service (docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html): a PUT to
/latest/api/token with the TTL header issues a session token (400 without the header); GETs carry it in
X-aws-ec2-metadata-token; a wrong token is 401; without one, IMDSv1 answers unless tokens are required (401).
"""

from __future__ import annotations

import http.server
import json
import threading
from typing import Dict, List, Optional

TOKEN_PATH = "/latest/api/token"
CREDENTIALS = "/latest/meta-data/iam/security-credentials/"


class LoopbackImds:
    """IMDS on 127.0.0.1 (`base` has no trailing slash).

    token: "ok" issues `token_value`; "hang" never answers the PUT (what a container sees with hop limit 1);
    an int answers the PUT with that status (IMDSv1-only or refusing services). require_token: IMDSv2 only.
    v1_status: the status a GET without a token gets instead. html: every answer is a proxy's HTML page.
    get_hangs: GETs never answer. Metadata paths are served only for what is given (instance id, region,
    the role, its credentials document, the instance profile's ARN)."""

    def __init__(self, token: object = "ok", token_value: str = "fake-imds-token", require_token: bool = False,
                 role: Optional[str] = None, credentials: Optional[Dict[str, str]] = None,
                 instance_id: Optional[str] = None, region: Optional[str] = None,
                 profile_arn: Optional[str] = None, v1_status: Optional[int] = None, html: Optional[str] = None,
                 get_hangs: bool = False) -> None:
        self.token, self.token_value, self.require_token = token, token_value, require_token
        self.role, self.credentials = role, dict(credentials or {})
        self.instance_id, self.region, self.profile_arn = instance_id, region, profile_arn
        self.v1_status, self.html, self.get_hangs = v1_status, html, get_hangs
        self.requests: List[str] = []
        self.release = threading.Event()
        imds = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, code: int, body: str) -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:  # noqa: N802
                imds.requests.append(f"PUT {self.path}")
                if imds.html is not None:
                    return self._send(200, imds.html)
                if self.path != TOKEN_PATH:
                    return self._send(404, "")
                if "X-aws-ec2-metadata-token-ttl-seconds" not in self.headers:
                    return self._send(400, "")
                if imds.token == "hang":
                    imds.release.wait(10)
                    return None
                if isinstance(imds.token, int):
                    return self._send(imds.token, "")
                return self._send(200, imds.token_value)

            def do_GET(self) -> None:  # noqa: N802
                imds.requests.append(f"GET {self.path}")
                if imds.html is not None:
                    return self._send(200, imds.html)
                if imds.get_hangs:
                    imds.release.wait(10)
                    return None
                token = self.headers.get("X-aws-ec2-metadata-token")
                if token is None and imds.v1_status is not None:
                    return self._send(imds.v1_status, "")
                if (token is None and imds.require_token) or (token is not None and token != imds.token_value):
                    return self._send(401, "")
                body = imds.answers().get(self.path)
                return self._send(200, body) if body is not None else self._send(404, "Not Found")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = self.base
        self.server.socket.settimeout(1.0)  # accept() must not block for ever on a connection that went away
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def answers(self) -> Dict[str, str]:
        out: Dict[str, str] = {}
        if self.instance_id:
            out["/latest/meta-data/instance-id"] = self.instance_id
        if self.region:
            out["/latest/meta-data/placement/region"] = self.region
        if self.role:
            out[CREDENTIALS] = self.role
            if self.credentials:
                out[CREDENTIALS + self.role] = json.dumps({"Code": "Success", "Type": "AWS-HMAC", **self.credentials})
            if self.profile_arn:
                out["/latest/meta-data/iam/info"] = json.dumps({
                    "Code": "Success", "LastUpdated": "2026-01-01T00:00:00Z", "InstanceProfileArn": self.profile_arn,
                    "InstanceProfileId": "AIPAEXAMPLEPROFILEID0"})
        return out

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
