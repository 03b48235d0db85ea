"""A small scripted HTTP/1.1 server in a thread, for the client's unit tests."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple


@dataclass
class Request:
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes
    client: Tuple[str, int]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0  # seconds to wait before answering (released early by close())
    content_type: str = "application/json"
    headers: Optional[Dict[str, str]] = None


def ok_json(payload: Any) -> Reply:
    return Reply(200, json.dumps(payload).encode())


def default_reply(req: Request) -> Reply:
    if req.path.startswith("/v1/ups/lookup"):
        return ok_json({"user_id": req.json()["user_id"], "experiment_bucket_map": {}})
    if req.path.startswith("/v1/ups/save"):
        return ok_json({"written": len(req.json()["experiment_bucket_map"]), "unchanged": 0, "lost": 0})
    return Reply(404, b'{"error":"not found"}')


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle and the
        # client's delayed ACK hold the second one back for ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                      self.client_address)
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(req)
        reply = owner.respond(req)
        if reply.delay:
            owner.release.wait(reply.delay)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for k, v in (reply.headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:  # the client gave up (timeout) and closed the connection
            self.close_connection = True

    do_GET = do_POST = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: "LocalServer"


class LocalServer:
    """Records every request; answers with respond(request) (default: the /v1/ups routes, empty)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: List[Request] = []
        self.respond: Callable[[Request], Reply] = default_reply
        self.release = threading.Event()  # set by close(): delayed replies answer at once
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def paths(self) -> List[str]:
        with self.lock:
            return [r.path for r in self.requests]

    def of(self, prefix: str) -> List[Request]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> "LocalServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def profile_reply(bucket_map: Dict[str, str], user_id: Optional[str] = None) -> Callable[[Request], Reply]:
    """Lookups answer bucket_map (experiment ID -> variation ID); saves answer as default_reply."""

    def respond(req: Request) -> Reply:
        if req.path.startswith("/v1/ups/lookup"):
            return ok_json({"user_id": user_id or req.json()["user_id"],
                            "experiment_bucket_map": {k: {"variation_id": v} for k, v in bucket_map.items()}})
        return default_reply(req)

    return respond
