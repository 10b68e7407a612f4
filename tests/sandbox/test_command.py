"""``forcebridge sandbox``: the ``--json`` first-line contract, clean stops, clear failures.

Runs the command as a real subprocess (``python -m forcebridge.sandbox.command``) on free ports,
as a script or the demo would, and talks to it over HTTPS trusting only the printed CA file.
"""

from __future__ import annotations

import io
import json
import signal
import socket
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
import typer
from cryptography.hazmat.primitives import serialization
from rich.console import Console
from typer.testing import CliRunner

from forcebridge.sandbox.command import (
    DEFAULT_JIRA_PORT,
    DEFAULT_SALESFORCE_PORT,
    _print_description,
    register,
)

STARTUP_SECONDS = 60


class SandboxProcess:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.first_line = ""

    def read_first_line(self) -> str:
        """The first stdout line, failing (not hanging) when the process never prints one."""
        assert self.process.stdout is not None
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(self.process.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(STARTUP_SECONDS)
        if not lines or not lines[0]:
            self.process.kill()
            _, stderr = self.process.communicate(timeout=10)
            pytest.fail(f"the sandbox printed no first line; stderr:\n{stderr}")
        self.first_line = lines[0]
        return self.first_line

    def stop(self, signal_number: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.process.send_signal(signal_number)
        stdout, stderr = self.process.communicate(timeout=30)
        return self.process.returncode, stdout, stderr


def _require_emulators() -> None:
    for module in ("forcebridge.sandbox.jira", "forcebridge.sandbox.salesforce"):
        emulator = pytest.importorskip(module, reason=f"{module} is not written yet")
        if not hasattr(emulator, "JiraSandbox") and not hasattr(emulator, "SalesforceSandbox"):
            pytest.skip(f"{module} does not export its emulator yet")


@contextmanager
def sandbox_process(data_dir: Path, *extra: str) -> Iterator[SandboxProcess]:
    _require_emulators()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "forcebridge.sandbox.command",
            "--json",
            "--jira-port",
            "0",
            "--salesforce-port",
            "0",
            "--data-dir",
            str(data_dir),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = SandboxProcess(process)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


def _client(description: dict[str, Any]) -> httpx2.Client:
    return httpx2.Client(
        verify=ssl.create_default_context(cafile=description["ca_file"]), timeout=10
    )


def test_json_first_line_describes_both_emulators_and_the_process_stops_cleanly(
    tmp_path: Path,
) -> None:
    with sandbox_process(tmp_path / "data") as running:
        description = json.loads(running.read_first_line())

        assert set(description) == {"jira", "salesforce", "ca_file", "data_dir"}
        assert set(description["jira"]) == {
            "url", "email", "api_token", "account_id", "cloud_id",
            "oauth_client_id", "oauth_client_secret", "oauth_refresh_token",
        }  # fmt: skip
        assert set(description["salesforce"]) == {
            "url", "client_id", "client_secret", "refresh_token", "access_token", "username",
            "organization_id", "private_key_file",
        }  # fmt: skip
        assert description["data_dir"] == str((tmp_path / "data").resolve())
        assert description["jira"]["url"].startswith("https://127.0.0.1:")
        assert description["salesforce"]["url"].startswith("https://127.0.0.1:")

        with _client(description) as http:
            jira = http.get(
                f"{description['jira']['url']}/rest/api/3/myself",
                auth=(description["jira"]["email"], description["jira"]["api_token"]),
            )
            salesforce = http.get(
                f"{description['salesforce']['url']}/services/data/v59.0/limits/",
                headers={"Authorization": f"Bearer {description['salesforce']['access_token']}"},
            )
        assert jira.status_code == 200, jira.text
        assert jira.json()["accountId"] == description["jira"]["account_id"]
        assert salesforce.status_code == 200, salesforce.text

        # An injected dropped connection must not print a traceback in the sandbox's terminal.
        with _client(description) as http:
            jira_url = description["jira"]["url"]
            http.post(f"{jira_url}/__sandbox/faults", json={"drop_connection": True})
            with pytest.raises(httpx2.RemoteProtocolError):
                http.get(f"{jira_url}/rest/api/3/myself")

        returncode, stdout, stderr = running.stop(signal.SIGTERM)

    assert returncode == 0, stderr
    assert stdout == ""  # nothing after the first line: scripts may keep reading stdout
    assert "Traceback" not in stderr


def test_ctrl_c_stops_cleanly_too(tmp_path: Path) -> None:
    with sandbox_process(tmp_path) as running:
        running.read_first_line()
        returncode, _, stderr = running.stop(signal.SIGINT)

    assert returncode == 0, stderr
    assert "Traceback" not in stderr


def test_private_key_is_written_to_an_owner_only_file_not_printed(tmp_path: Path) -> None:
    with sandbox_process(tmp_path) as running:
        first_line = running.read_first_line()
        description = json.loads(first_line)
        running.stop()

    key_file = Path(description["salesforce"]["private_key_file"])
    assert key_file.parent == tmp_path.resolve()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert "PRIVATE KEY" not in first_line


def test_restart_with_the_same_data_dir_keeps_the_ca_and_the_state(tmp_path: Path) -> None:
    with sandbox_process(tmp_path) as first:
        description = json.loads(first.read_first_line())
        headers = {"Authorization": f"Bearer {description['salesforce']['access_token']}"}
        with _client(description) as http:
            created = http.post(
                f"{description['salesforce']['url']}/services/data/v59.0/sobjects/Account/",
                json={"Name": "Survives restarts"},
                headers=headers,
            )
        assert created.status_code == 201, created.text
        ca_before = Path(description["ca_file"]).read_bytes()
        assert first.stop()[0] == 0

    with sandbox_process(tmp_path) as second:
        again = json.loads(second.read_first_line())
        with _client(again) as http:
            fetched = http.get(
                f"{again['salesforce']['url']}/services/data/v59.0/sobjects/Account/"
                f"{created.json()['id']}",
                headers={"Authorization": f"Bearer {again['salesforce']['access_token']}"},
            )
        second.stop()

    assert Path(again["ca_file"]).read_bytes() == ca_before
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["Name"] == "Survives restarts"


def test_no_tls_serves_plain_http_and_reports_no_ca(tmp_path: Path) -> None:
    with sandbox_process(tmp_path, "--no-tls") as running:
        description = json.loads(running.read_first_line())
        assert description["ca_file"] is None
        assert description["jira"]["url"].startswith("http://")
        response = httpx2.get(
            f"{description['jira']['url']}/rest/api/3/myself",
            auth=(description["jira"]["email"], description["jira"]["api_token"]),
        )
        running.stop()

    assert response.status_code == 200


def test_busy_port_exits_with_status_1_and_a_message_not_a_traceback(tmp_path: Path) -> None:
    _require_emulators()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "forcebridge.sandbox.command",
                "--json",
                "--jira-port",
                str(port),
                "--salesforce-port",
                "0",
                "--data-dir",
                str(tmp_path),
            ],  # fmt: skip
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode == 1
    assert result.stdout == ""
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_register_adds_a_sandbox_command_with_fixed_default_ports() -> None:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command makes Typer dispatch by name, as in the real CLI
        pass

    result = CliRunner().invoke(app, ["sandbox", "--help"])

    assert result.exit_code == 0, result.output
    assert "--json" in result.output
    assert "--no-tls" in result.output
    assert (DEFAULT_JIRA_PORT, DEFAULT_SALESFORCE_PORT) == (8701, 8702)


def test_human_output_keeps_every_token_on_one_line_at_any_width() -> None:
    token = "x" * 120
    description = {
        "jira": {"url": "https://127.0.0.1:8701", "api_token": token},
        "salesforce": {"url": "https://127.0.0.1:8702", "access_token": token + "!"},
        "ca_file": "/data/ca.pem",
        "data_dir": "/data",
    }
    output = io.StringIO()

    _print_description(Console(file=output, width=40), description)

    lines = output.getvalue().splitlines()
    assert f"  api_token: {token}" in lines
    assert f"  access_token: {token}!" in lines
    assert "  e.g. curl --cacert /data/ca.pem https://127.0.0.1:8701/rest/api/3/serverInfo" in lines
