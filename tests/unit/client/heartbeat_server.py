"""A heartbeat server on 127.0.0.1 for the client tests.

`HeartbeatServer` stores heartbeats the way the receiver's store does (the
greatest value per agent, instance and model), validates every body against
the Heartbeat schema of the receiver's OpenAPI file, and plays the faults that a
test queues, one per request.
"""

from __future__ import annotations

import collections
import http.server
import json
import pathlib
import threading
from collections.abc import Callable
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema
import yaml

from agentobs_client import Reporter, UsageSnapshot

OPENAPI_PATH = (
    pathlib.Path(__file__).resolve().parents[3] / "operator/agentobs/receiver/openapi.yaml"
)
COUNTERS = (
    "inputTokens",
    "outputTokens",
    "cacheReadTokens",
    "cacheWriteTokens",
    "reasoningTokens",
    "calls",
    "unreportedCalls",
)
ReporterFactory = Callable[..., Reporter]
"""Builds a reporter for a ledger and a HeartbeatServer, with keyword overrides."""

# Maximum seconds that a held or hanging request waits for the test to release it.
HOLD_LIMIT = 30.0


def heartbeat_validator() -> jsonschema.protocols.Validator:
    """A validator for the Heartbeat schema, resolving $refs inside the OpenAPI file."""
    document = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    uri = "urn:agentobs:openapi"
    resource = referencing.Resource.from_contents(
        document, default_specification=referencing.jsonschema.DRAFT202012
    )
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(uri, resource)
    return jsonschema.Draft202012Validator(
        {"$ref": f"{uri}#/components/schemas/Heartbeat"},
        registry=registry,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def expected_totals(snapshot: UsageSnapshot) -> dict[str, int]:
    """The totals of a snapshot under the protocol's field names."""
    totals = snapshot.totals
    return {
        "inputTokens": totals.input_tokens,
        "outputTokens": totals.output_tokens,
        "cacheReadTokens": totals.cache_read_tokens,
        "cacheWriteTokens": totals.cache_write_tokens,
        "reasoningTokens": totals.reasoning_tokens,
        "calls": totals.calls,
        "unreportedCalls": totals.unreported_calls,
        "skippedRecords": snapshot.skipped_records,
    }


class HeartbeatServer:
    """A receiver stand-in that stores heartbeats as the store does.

    The socket is bound at construction but listens only after `start()`, so
    until then every connection is refused.
    """

    def __init__(self) -> None:
        self.validator = heartbeat_validator()
        self.lock = threading.Lock()
        self.bodies: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.authorizations: list[str | None] = []
        self.schema_errors: list[str] = []
        self.faults: collections.deque[str] = collections.deque()
        self.sticky_fault: str | None = None
        self.request_arrived = threading.Event()
        self.received = threading.Condition(self.lock)
        self.release = threading.Event()
        self._maxima: dict[tuple[str, str, str, str], dict[str, int]] = {}
        self._skipped: dict[tuple[str, str, str], int] = {}

        handler = _handler_for(self)
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), handler, bind_and_activate=False
        )
        self.httpd.daemon_threads = True
        self.httpd.server_bind()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the server."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Listen and serve in a thread."""
        self.httpd.server_activate()
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Release held requests, stop serving and close the socket."""
        self.release.set()
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
        self.httpd.server_close()

    def wait_for_bodies(self, count: int, limit: float) -> bool:
        """Wait until `count` heartbeats have arrived; False after `limit` seconds."""
        with self.received:
            return self.received.wait_for(lambda: len(self.bodies) >= count, limit)

    def fail_next(self, *faults: str) -> None:
        """Play these faults on the next requests, one per request, in order."""
        with self.lock:
            self.faults.extend(faults)

    def totals(self) -> dict[str, int]:
        """Totals as the store computes them: maxima per key, summed."""
        with self.lock:
            totals = dict.fromkeys(COUNTERS, 0)
            for counters in self._maxima.values():
                for name in COUNTERS:
                    totals[name] += counters[name]
            totals["skippedRecords"] = sum(self._skipped.values())
            return totals

    def store(self, body: dict[str, Any]) -> None:
        """Keep the greatest value of every counter, as the store does."""
        with self.lock:
            instance_key = (body["namespace"], body["agent"], body["instance"])
            self._skipped[instance_key] = max(
                self._skipped.get(instance_key, 0), body.get("skippedRecords", 0)
            )
            for usage in body.get("usage", []):
                key = (*instance_key, usage["model"])
                maxima = self._maxima.setdefault(key, dict.fromkeys(COUNTERS, 0))
                for name in COUNTERS:
                    maxima[name] = max(maxima[name], usage.get(name, 0))

    def next_fault(self) -> str | None:
        with self.lock:
            if self.faults:
                return self.faults.popleft()
            return self.sticky_fault


def _handler_for(server: HeartbeatServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            with server.lock:
                server.bodies.append(body)
                server.authorizations.append(self.headers.get("Authorization"))
                server.schema_errors.extend(
                    error.message for error in server.validator.iter_errors(body)
                )
                server.received.notify_all()
            fault = server.next_fault()
            server.request_arrived.set()

            if fault == "500":
                self._respond(500, {"error": "internal", "message": "boom", "field": None})
            elif fault == "429":
                self._respond(
                    429,
                    {"error": "rate_limited", "message": "slow down", "field": None},
                    retry_after="1",
                )
            elif fault == "401":
                self._respond(
                    401,
                    {
                        "error": "invalid_token",
                        "message": "The bearer token is not valid.",
                        "field": None,
                    },
                )
            elif fault == "422":
                self._respond(
                    422,
                    {
                        "error": "invalid_field",
                        "message": "usage[0].model is too long",
                        "field": "usage[0].model",
                    },
                )
            elif fault in ("hang", "hold"):
                # Stored, but the response is sent only when the test releases
                # it, after the client has timed out ("hang") or not ("hold").
                server.store(body)
                server.release.wait(HOLD_LIMIT)
                server.release.clear()
                self._respond(200, {"instance": body["instance"], "sequence": body["sequence"]})
            elif fault == "duplicate":
                server.store(body)
                server.store(body)
                self._respond(200, {"instance": body["instance"], "sequence": body["sequence"]})
            else:
                server.store(body)
                self._respond(200, {"instance": body["instance"], "sequence": body["sequence"]})

        def _respond(
            self, status: int, payload: dict[str, Any], *, retry_after: str | None = None
        ) -> None:
            data = json.dumps(payload).encode()
            with server.lock:
                server.statuses.append(status)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                # The client gave up on a hanging request and closed the socket.
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
