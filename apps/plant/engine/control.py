"""The plant's instructor interface: a small HTTP API on loopback through which a trainer's events
reach the running plant (the control room's trainer panel posts here; nothing else of the control
room does). With a token set, every request must carry it (`Authorization: Bearer TOKEN`).

    GET  /scenarios              the plant's scenarios
    POST /scenarios              {id, kind, start_s?, duration_s, feeders | der | branch, factor?}
    POST /scenarios/ID/end       end it now
    GET  /state                  the last true state (JSON)
"""

from __future__ import annotations

import hmac
import json
import threading
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from apps.plant.engine.scenarios import ScenarioError
from apps.plant.engine.server import PlantServer

MAX_BODY = 64 * 1024


class _Handler(BaseHTTPRequestHandler):
    server: _ControlServer

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: the plant's own output says what matters

    def _send(self, status: int, doc: Any) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _allowed(self) -> bool:
        token = self.server.token
        given = self.headers.get("Authorization", "")
        if token and not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            self._send(401, {"error": "the plant's control API needs its token"})
            return False
        return True

    def do_GET(self) -> None:
        if not self._allowed():
            return
        plant = self.server.plant
        if self.path == "/scenarios":
            self._send(200, [asdict(s) for s in plant.book.scenarios.values()])
        elif self.path == "/state":
            self._send(200, plant.last.as_record() if plant.last is not None else {})
        else:
            self._send(404, {"error": f"nothing at {self.path}"})

    def do_POST(self) -> None:
        if not self._allowed():
            return
        raw_length = self.headers.get("Content-Length") or "0"
        length = int(raw_length) if raw_length.isdigit() else -1
        if not 0 <= length <= MAX_BODY:
            self._send(413, {"error": f"a request body is a Content-Length of at most {MAX_BODY} bytes"})
            return
        raw = self.rfile.read(length)
        parts = self.path.strip("/").split("/")
        try:
            if parts == ["scenarios"]:
                doc = json.loads(raw or b"{}")
                ident = doc.get("id") if isinstance(doc, dict) else None
                if not isinstance(ident, int) or isinstance(ident, bool) or ident < 1:
                    raise ScenarioError("a scenario needs a positive integer id")
                self._send(201, asdict(self.server.plant.add_scenario(doc, ident)))
            elif len(parts) == 3 and parts[0] == "scenarios" and parts[2] == "end" and parts[1].isdigit():
                self._send(200, asdict(self.server.plant.end_scenario(int(parts[1]))))
            else:
                self._send(404, {"error": f"nothing at {self.path}"})
        except (ScenarioError, json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            self._send(400, {"error": str(exc)})


class _ControlServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, plant: PlantServer, token: str) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.plant, self.token = plant, token


class ControlApi:
    def __init__(self, port: int, plant: PlantServer, token: str = "") -> None:
        self.httpd = _ControlServer(port, plant, token)
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="plant-control", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
