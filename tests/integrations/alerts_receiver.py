"""A stand-in for PagerDuty's REST API, a Slack incoming webhook and Slack's Web API, run as its own process.

``python alerts_receiver.py PORT LOGFILE``: every POST is appended to LOGFILE
as one JSON line ``{"t", "path", "headers", "body"}``.  Answers like the real
thing: ``POST /incidents/{id}/notes`` -> 201 with the note; ``POST .../chat.postMessage``
and ``.../chat.update`` -> 200 ``{"ok": true, "channel": <an ID>, "ts": ...}`` (Slack answers
with the channel's ID even when given its name: https://api.slack.com/methods/chat.postMessage);
anything else -> 200 ``ok``.
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    port, logfile = int(sys.argv[1]), sys.argv[2]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            entry = {"t": time.time(), "path": self.path, "headers": dict(self.headers.items()), "body": body.decode()}
            with open(logfile, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
            if self.path.startswith("/incidents/") and self.path.endswith("/notes"):
                content = json.loads(body or b"{}").get("note", {}).get("content", "")
                reply, status = json.dumps({"note": {"id": "PWL7QXS", "content": content}}).encode(), 201
            elif self.path.endswith(("/chat.postMessage", "/chat.update")):
                sent = json.loads(body or b"{}")
                ts = sent.get("ts") or f"{time.time():.6f}"
                reply, status = json.dumps({"ok": True, "channel": "C0RCA0001", "ts": ts}).encode(), 200
            else:
                reply, status = b"ok", 200
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if reply.startswith(b"{") else "text/plain")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
