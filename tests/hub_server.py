"""A small fake Hugging Face Hub on 127.0.0.1 for tests: the endpoints huggingface_hub 2.4 calls to create a
repo, create a branch, validate a README, preupload, commit (NDJSON), read repo info, list a tree and download.

Every file is declared "regular" at preupload, so its bytes arrive base64-encoded inside the commit payload
(no LFS / Xet transfer to fake) and the test can read exactly what was sent. Requests are recorded.
Write endpoints need `Authorization: Bearer <one of tokens>`; like the Hub, unknown repos answer 404 with
`X-Error-Code: RepoNotFound`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

API = re.compile(r"^/api/(models|spaces|datasets)/([^/]+/[^/]+)"
                 r"(?:/(preupload|commit|revision|tree|branch)/([^/]+))?/?$")
RESOLVE = re.compile(r"^/(?:(spaces|datasets)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


@dataclass
class Repo:
    repo_type: str
    private: bool = False
    sdk: str | None = None
    branches: dict = field(default_factory=lambda: {"main": ("0" * 40, {})})  # name -> (sha, {path: bytes})
    commits: list = field(default_factory=list)  # {"branch", "summary", "files": {path: bytes}}


class FakeHub:
    def __init__(self, tokens=("hf_fake_valid_token",)):
        self.tokens, self.repos, self.requests = set(tokens), {}, []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def commits(self, repo_id: str, repo_type: str = "model") -> list[dict]:
        return self.repos[(repo_type, repo_id)].commits

    def files(self, repo_id: str, branch: str = "main", repo_type: str = "model") -> dict[str, bytes]:
        return self.repos[(repo_type, repo_id)].branches[branch][1]


def _handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output clean
            pass

        # ------------------------------------------------------------------ plumbing
        def _send(self, status: int, body=b"", headers=None, head=False):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if not isinstance(body, bytes):
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if not head:
                self.wfile.write(data)

        def _error(self, status: int, code: str | None, message: str, head=False):
            headers = {"X-Error-Message": message} | ({"X-Error-Code": code} if code else {})
            self._send(status, {"error": message}, headers, head=head)

        def _record(self, body: bytes):
            url = urlsplit(self.path)
            hub.requests.append({"method": self.command, "path": unquote(url.path), "query": parse_qs(url.query),
                                 "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
            return unquote(url.path)

        def _authorized(self) -> bool:
            auth = self.headers.get("Authorization", "")
            return auth.startswith("Bearer ") and auth[7:] in hub.tokens

        def _repo(self, kind: str, repo_id: str, head=False):
            repo = hub.repos.get((kind.rstrip("s"), repo_id))
            if repo is None or (repo.private and not self._authorized()):
                self._error(404, "RepoNotFound", "Repository not found", head=head)
                return None
            return repo

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        # ------------------------------------------------------------------ verbs
        def do_POST(self):
            body = self._body()
            path = self._record(body)
            if not self._authorized():
                return self._error(401, None, "Invalid credentials in Authorization header")
            if path == "/api/validate-yaml":
                return self._send(200, {"errors": [], "warnings": []})
            if path == "/api/repos/create":
                return self._create(json.loads(body))
            m = API.match(path)
            if not m or not m.group(3):
                return self._error(404, None, f"no fake endpoint POST {path}")
            kind, repo_id, action, rev = m.groups()
            with hub.lock:
                repo = self._repo(kind, repo_id)
                if repo is None:
                    return None
                if action == "branch":
                    if rev in repo.branches:
                        return self._error(409, None, "Reference already exists")
                    repo.branches[rev] = (repo.branches["main"][0], dict(repo.branches["main"][1]))
                    return self._send(200, {})
                if rev not in repo.branches:
                    return self._error(404, "RevisionNotFound", "Invalid rev id")
                if action == "preupload":
                    files = json.loads(body)["files"]
                    return self._send(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                       "shouldIgnore": False, "oid": None} for f in files]})
                if action == "commit":
                    return self._commit(repo, repo_id, rev, body)
            return self._error(404, None, f"no fake endpoint POST {path}")

        def _create(self, payload: dict):
            repo_type = payload.get("type") or "model"
            repo_id = f"{payload['organization']}/{payload['name']}"
            with hub.lock:
                if (repo_type, repo_id) in hub.repos:  # the Hub's 409 body carries the url too
                    return self._send(409, {"error": "You already created this repo", "url": f"{hub.url}/{repo_id}"},
                                      {"X-Error-Message": "You already created this repo"})
                hub.repos[(repo_type, repo_id)] = Repo(repo_type, payload.get("visibility") == "private",
                                                       payload.get("sdk"))
            return self._send(200, {"url": f"{hub.url}/{repo_id}", "name": repo_id})

        def _commit(self, repo: Repo, repo_id: str, branch: str, body: bytes):
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            header = next(line["value"] for line in lines if line["key"] == "header")
            added = {line["value"]["path"]: base64.b64decode(line["value"]["content"])
                     for line in lines if line["key"] == "file"}
            files = {**repo.branches[branch][1], **added}
            sha = hashlib.sha1(repr((repo_id, len(repo.commits), sorted(added))).encode()).hexdigest()
            repo.branches[branch] = (sha, files)
            repo.commits.append({"branch": branch, "summary": header["summary"], "files": added,
                                 "lfs": [line["value"] for line in lines if line["key"] == "lfsFile"]})
            return self._send(200, {"commitUrl": f"{hub.url}/{repo_id}/commit/{sha}", "commitOid": sha,
                                    "pullRequestUrl": None})

        def _find(self, repo: Repo, rev: str):
            if rev in repo.branches:
                return repo.branches[rev]
            return next((b for b in repo.branches.values() if b[0] == rev), None)

        def do_GET(self, head=False):
            path = self._record(b"")
            m = API.match(path)
            if m and m.group(3) in (None, "revision", "tree"):
                kind, repo_id, action, rev = m.groups()
                repo = self._repo(kind, repo_id, head)
                if repo is None:
                    return None
                branch = self._find(repo, rev or "main")
                if branch is None:
                    return self._error(404, "RevisionNotFound", "Invalid rev id", head)
                sha, files = branch
                if action == "tree":
                    return self._send(200, [{"type": "file", "path": p, "size": len(b),
                                             "oid": hashlib.sha1(b).hexdigest()} for p, b in sorted(files.items())],
                                      head=head)
                return self._send(200, {"id": repo_id, "sha": sha, "private": repo.private,
                                        "siblings": [{"rfilename": p} for p in sorted(files)]}, head=head)
            m = RESOLVE.match(path)
            if m:
                kind, repo_id, rev, filename = m.groups()
                repo = self._repo(kind or "models", repo_id, head)
                if repo is None:
                    return None
                branch = self._find(repo, rev)
                if branch is None:
                    return self._error(404, "RevisionNotFound", "Invalid rev id", head)
                data = branch[1].get(filename)
                if data is None:
                    return self._error(404, "EntryNotFound", "Entry not found", head)
                etag = hashlib.sha1(data).hexdigest()
                return self._send(200, data, {"X-Repo-Commit": branch[0], "ETag": f'"{etag}"'}, head=head)
            return self._error(404, None, f"no fake endpoint GET {path}", head)

        def do_HEAD(self):
            self.do_GET(head=True)

    return Handler
