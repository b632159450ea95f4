"""A stand-in for ServiceNow's Table API and Jira Cloud's REST API v3, run as its own process.

``python tickets_receiver.py PORT LOGFILE SN_USER:SN_PASSWORD JIRA_EMAIL:JIRA_TOKEN``

Checks requests the way the vendors document them and answers like them:

* ``PATCH /api/now/table/incident/{sys_id}`` (https://developer.servicenow.com/dev.do#!/reference/api/latest/rest/c_TableAPI,
  "Table - PATCH /now/table/{tableName}/{sys_id}"): Basic auth, ``Accept`` and ``Content-Type``
  ``application/json``, a 32-hex sys_id, a JSON object body; ``work_notes`` a non-empty string.
  200 ``{"result": {...}}``; 401 ``{"error": {"message": "User Not Authenticated", ...}, "status": "failure"}``.
  ``GET /api/now/table/sys_journal_field?sysparm_query=element_id=..^element=work_notes^valueLIKE..``
  lists the notes written.
* ``POST /rest/api/3/issue/{key}/comment`` (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/,
  "Add comment"): Basic ``email:api_token``, a body ``{"body": <ADF doc>}`` whose nodes are of
  the types ADF allows (https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/).
  201 with the comment; ``GET`` the same path lists ``{"comments": [...]}`` (with their ``properties``
  when ``expand=properties``); ``PUT .../comment/{id}`` replaces a comment's body ("Update comment").
* ``POST /_fail`` ``{"prefix": "...", "statuses": [401, 429, 503], "land": false}`` queues
  failures for the next requests under ``prefix`` (429 carries ``Retry-After: 1``); with
  ``land`` the note is stored before the error answer (an answer lost after the write).
* Any other POST: 200 ``ok`` (the generic webhook target).

Every request is appended to LOGFILE as one JSON line ``{t, method, path, query, headers, body, status}``.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ADF_BLOCKS = {"paragraph", "orderedList", "bulletList", "listItem", "heading", "codeBlock", "blockquote", "rule"}
ADF_INLINE = {"text", "hardBreak", "mention", "emoji", "inlineCard"}
ADF_MARKS = {"strong", "em", "code", "link", "strike", "underline"}


def adf_problem(node: object, path: str = "body") -> str | None:
    """Why ``node`` is not a valid ADF comment body, or None."""
    if not isinstance(node, dict):
        return f"{path} must be an object"
    t = node.get("type")
    if path == "body":
        if t != "doc" or node.get("version") != 1 or not isinstance(node.get("content"), list) or not node["content"]:
            return "body must be {type: doc, version: 1, content: [...]}"
    elif t not in ADF_BLOCKS | ADF_INLINE:
        return f"{path}.type {t!r} is not an ADF node type"
    if t == "text":
        if not isinstance(node.get("text"), str) or not node["text"]:
            return f"{path}.text must be a non-empty string"
        for m in node.get("marks", []):
            if m.get("type") not in ADF_MARKS or (m["type"] == "link" and not m.get("attrs", {}).get("href")):
                return f"{path}.marks has an invalid mark {m!r}"
    for i, child in enumerate(node.get("content", []) or []):
        problem = adf_problem(child, f"{path}.content[{i}]")
        if problem:
            return problem
    return None


def main() -> None:
    port, logfile, sn_pair, jira_pair = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    lock = threading.Lock()
    failures: list[dict] = []
    notes: dict[str, list[str]] = {}  # sys_id -> work notes
    comments: dict[str, list[dict]] = {}  # issue key -> comments

    def basic_ok(headers: dict[str, str], pair: str) -> bool:
        return headers.get("authorization", "") == "Basic " + base64.b64encode(pair.encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, doc: object, extra: dict[str, str] | None = None) -> None:
            reply = json.dumps(doc).encode() if not isinstance(doc, bytes) else doc
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(reply)

        def _handle(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            url = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, doc, extra = self._route(method, url.path, parse_qs(url.query), headers, body)
            entry = {"t": time.time(), "method": method, "path": url.path, "query": url.query,
                     "headers": headers, "body": body.decode(), "status": status}  # fmt: skip
            with lock, open(logfile, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
            self._answer(status, doc, extra)

        def _injected(self, path: str) -> dict | None:
            with lock:
                for f in failures:
                    if path.startswith(f["prefix"]) and f["statuses"]:
                        return {"status": f["statuses"].pop(0), "land": f.get("land", False)}
            return None

        def _route(self, method, path, query, headers, body):  # noqa: ANN001, ANN202, C901, PLR0911
            if path == "/_fail" and method == "POST":
                with lock:
                    failures.append(json.loads(body))
                return 200, {"ok": True}, None
            m = re.fullmatch(r"/api/now/table/incident/([0-9a-f]{32})", path)
            if m or path.startswith("/api/now/"):
                if not basic_ok(headers, sn_pair):
                    return 401, {"error": {"message": "User Not Authenticated",
                                           "detail": "Required to provide Auth information"}, "status": "failure"}, None
                if path == "/api/now/table/sys_journal_field" and method == "GET":
                    q = query.get("sysparm_query", [""])[0]
                    eid = re.search(r"element_id=([^^]*)", q)
                    like = q.split("valueLIKE", 1)[1] if "valueLIKE" in q and "element=work_notes" in q else None
                    with lock:
                        got = notes.get(eid.group(1), []) if eid else []
                        hits = [n for n in got if like is not None and like in n]
                    return 200, {"result": [{"sys_id": f"{i:032x}"} for i, _ in enumerate(hits[:1])]}, None
                if not m or method != "PATCH":
                    return 405, {"error": {"message": "Method not Supported"}, "status": "failure"}, None
                if headers.get("accept") != "application/json" or headers.get("content-type") != "application/json":
                    return 406, {"error": {"message": "Accept and Content-Type must be application/json"}}, None
                try:
                    doc = json.loads(body)
                except ValueError:
                    return 400, {"error": {"message": "Exception while reading request", "detail": "not JSON"}}, None
                if not isinstance(doc, dict) or not isinstance(doc.get("work_notes"), str) or not doc["work_notes"]:
                    return 400, {"error": {"message": "work_notes must be a non-empty string"}, "status": "failure"}, None
                injected = self._injected(path)
                if injected and not injected["land"]:
                    return injected["status"], {"error": {"message": "injected"}}, {"Retry-After": "1"}
                with lock:
                    notes.setdefault(m.group(1), []).append(doc["work_notes"])
                if injected:
                    return injected["status"], {"error": {"message": "injected after the write"}}, None
                return 200, {"result": {"sys_id": m.group(1), "number": "INC0010001", "work_notes": ""}}, None
            m = re.fullmatch(r"/rest/api/3/issue/([A-Z][A-Z0-9]+-\d+)/comment/(\d+)", path)
            if m:
                if not basic_ok(headers, jira_pair):
                    return 401, {"errorMessages": ["You are not authenticated."], "errors": {}}, None
                if method != "PUT":
                    return 405, {"errorMessages": ["PUT only here"], "errors": {}}, None
                doc = json.loads(body or b"{}")
                problem = adf_problem(doc.get("body") if isinstance(doc, dict) else None)
                if problem:
                    return 400, {"errorMessages": [], "errors": {"comment": problem}}, None
                with lock:
                    found = [c for c in comments.get(m.group(1), []) if c["id"] == m.group(2)]
                    if not found:
                        return 404, {"errorMessages": ["Can not find a comment for the id"], "errors": {}}, None
                    found[0]["body"] = doc["body"]
                return 200, found[0], None
            m = re.fullmatch(r"/rest/api/3/issue/([A-Z][A-Z0-9]+-\d+)/comment", path)
            if m:
                if not basic_ok(headers, jira_pair):
                    return 401, {"errorMessages": ["You are not authenticated."], "errors": {}}, None
                key = m.group(1)
                if method == "GET":
                    expand = "properties" in query.get("expand", [""])[0]
                    with lock:
                        got = [c if expand else {k: v for k, v in c.items() if k != "properties"}
                               for c in comments.get(key, [])]
                    return 200, {"startAt": 0, "maxResults": 50, "total": len(got), "comments": got}, None
                if method != "POST" or headers.get("content-type") != "application/json":
                    return 405, {"errorMessages": ["POST application/json only"], "errors": {}}, None
                try:
                    doc = json.loads(body)
                except ValueError:
                    return 400, {"errorMessages": ["Unexpected character"], "errors": {}}, None
                problem = adf_problem(doc.get("body") if isinstance(doc, dict) else None)
                props = doc.get("properties", []) if isinstance(doc, dict) else None
                if not problem and (not isinstance(props, list) or not all(
                        isinstance(p, dict) and isinstance(p.get("key"), str) and "value" in p for p in props)):
                    problem = "properties must be a list of {key, value}"
                if not problem and set(doc) - {"body", "properties", "visibility"}:
                    problem = f"unknown comment fields {sorted(set(doc) - {'body', 'properties', 'visibility'})}"
                if problem:
                    return 400, {"errorMessages": [], "errors": {"comment": problem}}, None
                injected = self._injected(path)
                if injected and not injected["land"]:
                    return injected["status"], {"errorMessages": ["injected"], "errors": {}}, {"Retry-After": "1"}
                with lock:
                    n = sum(len(v) for v in comments.values())
                    comment = {"id": str(10000 + n), "self": f"http://127.0.0.1:{port}{path}/{10000 + n}",
                               "body": doc["body"], "properties": doc.get("properties", [])}
                    comments.setdefault(key, []).append(comment)
                if injected:
                    return injected["status"], {"errorMessages": ["injected after the write"], "errors": {}}, None
                return 201, comment, None
            if method == "POST":
                return 200, {"ok": True}, None
            return 200, {"ok": True}, None

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self._handle("POST")

        def do_PATCH(self) -> None:  # noqa: N802
            self._handle("PATCH")

        def do_PUT(self) -> None:  # noqa: N802
            self._handle("PUT")

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/":
                self._answer(200, {"ok": True})
                return
            self._handle("GET")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
