"""A small LSP client for the YAML language server (``npm yaml-language-server``).

The server is the one editors run (VS Code's YAML extension, Neovim, Helix...):
installed from ``tests/editor/package-lock.json`` into
``tests/editor/node_modules`` by ``.ci/run`` and started with ``--stdio``.
The client speaks JSON-RPC over the server's stdin/stdout, answers the
server's own requests (its settings), and offers what the tests need: open a
document and get its diagnostics, ask for completion and hover.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
MODULES = HERE / "node_modules"
SERVER = MODULES / "yaml-language-server" / "bin" / "yaml-language-server"
YAML_LIBRARY = MODULES / "yaml"

#: The settings an editor sends: validation, completion and hover on, no schema store
#: download (the tests run offline; packs name their schema on their first line).
SETTINGS: dict[str, Any] = {
    "yaml": {
        "validate": True,
        "completion": True,
        "hover": True,
        "format": {"enable": False},
        "schemaStore": {"enable": False},
        "yamlVersion": "1.2",
    }
}
TIMEOUT = 30.0

Message = dict[str, Any]


def missing(what: str) -> None:
    """Skip here; fail in CI, where ``.ci/run`` installs everything."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI (.ci/run installs it)")
    pytest.skip(f"{what} is missing")


def node() -> str:
    """The ``node`` executable, and the server beside these tests (else skip or fail)."""
    found = shutil.which("node")
    if found is None:
        missing("node")
    if not SERVER.is_file():
        missing(f"yaml-language-server (npm ci --prefix {HERE.relative_to(ROOT)})")
    return str(found)


class LanguageServer:
    """One running server, spoken to over stdio."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.inbox: queue.Queue[Message | None] = queue.Queue()
        self.next_id = 0
        self.versions: dict[str, int] = {}
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    self.inbox.put(None)
                    return
                if not line.strip():
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            assert length is not None, "a message without Content-Length"
            self.inbox.put(json.loads(stream.read(length)))

    def send(self, message: Message) -> None:
        """Write one JSON-RPC message."""
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        """Send a notification (no answer)."""
        self.send({"method": method, "params": params})

    def _answer(self, request: Message) -> None:
        """Answer the server's own requests as an editor would."""
        result: Any = None
        if request["method"] == "workspace/configuration":
            result = [SETTINGS.get(item.get("section", "")) for item in request["params"]["items"]]
        self.send({"id": request["id"], "result": result})

    def wait(self, wanted: Callable[[Message], bool], timeout: float = TIMEOUT) -> Message:
        """The next message ``wanted`` accepts, answering server requests meanwhile."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.inbox.get(timeout=left)
            except queue.Empty:
                break
            if message is None:
                raise AssertionError("the language server exited")
            if "method" in message and "id" in message:
                self._answer(message)
            elif wanted(message):
                return message
        raise AssertionError(f"no awaited message from the language server in {timeout:.0f}s")

    def request(self, method: str, params: Any) -> Any:
        """Send a request and return its result."""
        self.next_id += 1
        ident = self.next_id
        self.send({"id": ident, "method": method, "params": params})
        answer = self.wait(lambda m: m.get("id") == ident and "method" not in m)
        assert "error" not in answer, answer["error"]
        return answer.get("result")

    def open(self, path: Path, text: str | None = None) -> list[Message]:
        """Open ``path`` (with ``text`` instead of its content) and return its diagnostics.

        The document keeps its real location, so its modeline's relative
        ``$schema`` resolves as in an editor. Diagnostics are those of the
        last publication within a short quiet period after the first.
        """
        uri = path.resolve().as_uri()
        version = self.versions.get(uri, 0) + 1
        self.versions[uri] = version
        body = path.read_text(encoding="utf-8") if text is None else text
        document = {"uri": uri, "languageId": "yaml", "version": version, "text": body}
        if version == 1:
            self.notify("textDocument/didOpen", {"textDocument": document})
        else:
            self.notify(
                "textDocument/didChange",
                {
                    "textDocument": {"uri": uri, "version": version},
                    "contentChanges": [{"text": body}],
                },
            )

        def published(message: Message) -> bool:
            return (
                message.get("method") == "textDocument/publishDiagnostics"
                and message["params"]["uri"] == uri
            )

        diagnostics: list[Message] = self.wait(published)["params"]["diagnostics"]
        while True:
            try:
                diagnostics = self.wait(published, timeout=0.5)["params"]["diagnostics"]
            except AssertionError:
                return diagnostics

    def completion(self, path: Path, line: int, character: int) -> list[str]:
        """The labels offered at a 0-based position of an opened document."""
        result = self.request(
            "textDocument/completion",
            {
                "textDocument": {"uri": path.resolve().as_uri()},
                "position": {"line": line, "character": character},
            },
        )
        items = result["items"] if isinstance(result, dict) else result or []
        return [item["label"] for item in items]

    def hover(self, path: Path, line: int, character: int) -> str:
        """The hover text at a 0-based position of an opened document ('' when none)."""
        result = self.request(
            "textDocument/hover",
            {
                "textDocument": {"uri": path.resolve().as_uri()},
                "position": {"line": line, "character": character},
            },
        )
        return str(result["contents"]["value"]) if result else ""


@contextmanager
def language_server() -> Iterator[LanguageServer]:
    """A started, initialised server for the repository, shut down afterwards."""
    process = subprocess.Popen(
        [node(), str(SERVER), "--stdio"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    server = LanguageServer(process)
    try:
        server.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": ROOT.as_uri(),
                "workspaceFolders": [{"uri": ROOT.as_uri(), "name": ROOT.name}],
                "capabilities": {
                    "textDocument": {
                        "completion": {"completionItem": {"snippetSupport": False}},
                        "hover": {"contentFormat": ["markdown", "plaintext"]},
                        "publishDiagnostics": {},
                    },
                    "workspace": {"configuration": True},
                },
            },
        )
        server.notify("initialized", {})
        server.notify("workspace/didChangeConfiguration", {"settings": SETTINGS})
        yield server
        server.request("shutdown", None)
        server.notify("exit", None)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
