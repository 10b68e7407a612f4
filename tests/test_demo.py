"""``forcebridge demo`` as a newcomer runs it: the printed call works, and so does SFJC's own
example script (from the seed document) with only its three constants changed."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from tests.conftest import backend_missing

SEED_DOCUMENT = (
    Path(__file__).resolve().parents[2] / "shared" / "seed" / ("authenticate-sfjc-rest-apis.txt")
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("demo")
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("FORCEBRIDGE_")
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from forcebridge.cli import main; main()",
            "demo",
            "--json",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=environment,
        text=True,
    )
    assert process.stdout is not None
    first_line = process.stdout.readline()
    try:
        summary = json.loads(first_line)
        _wait_until_serving(summary["base_url"])
        yield summary
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(base_url: str) -> None:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx2.TransportError:
            time.sleep(0.2)
    raise AssertionError("the demo server did not become ready")


def test_demo_json_names_everything_a_script_needs(demo: dict[str, Any]) -> None:
    for key in (
        "base_url",
        "token",
        "project_id",
        "issue_key",
        "son",
        "soid",
        "admin_user",
        "admin_password",
    ):
        assert demo[key], key
    assert set(demo["sandbox"]) >= {"jira", "salesforce", "ca_file"}
    assert re.fullmatch(r"[a-zA-Z0-9]{18}", demo["soid"])


def test_the_printed_api_call_associates_the_issue(demo: dict[str, Any]) -> None:
    if shutil.which("curl") is None:
        backend_missing("curl is not installed")
    result = subprocess.run(
        demo["example_call"], shell=True, capture_output=True, text=True, timeout=60, check=True
    )
    body = json.loads(result.stdout)
    assert body["success"] is True
    assert body["data"]["jiraIssueKey"] == demo["issue_key"]
    # Unlink again (beyond SFJC), so the SFJC example below starts from a fresh pair.
    unlinked = httpx2.delete(
        f"{demo['base_url']}/external/api/association",
        params={"jiraIssueId": demo["issue_key"], "son": "Case", "soid": demo["soid"]},
        headers={"Authorization": f"JWT {demo['token']}"},
    )
    assert unlinked.status_code == 200, unlinked.text


def test_sfjc_example_script_runs_with_only_its_constants_changed(
    demo: dict[str, Any], tmp_path: Path
) -> None:
    if shutil.which("node") is None:
        backend_missing("node is not installed (needed to run SFJC's JavaScript example)")
    if not SEED_DOCUMENT.exists():
        backend_missing(f"the seed document is not at {SEED_DOCUMENT}")
    script = seed_example_script(SEED_DOCUMENT.read_text(encoding="utf-8"))
    script = script.replace('const TOKEN = "FILL_ME_IN"', f'const TOKEN = "{demo["token"]}"')
    script = script.replace(
        'const APP_BASE_URL = "https://sfjc.integration.appfire.app"',
        f'const APP_BASE_URL = "{demo["base_url"]}"',
    )
    script = script.replace(
        'const PROJECT_ID = "FILL_ME_IN"', f'const PROJECT_ID = "{demo["project_id"]}"'
    )
    # The example's own record id belongs to Appfire's org; ours comes from the sandbox.
    script = script.replace("500J80000019IF9IAM", demo["soid"])
    path = tmp_path / "sfjc-example.mjs"
    path.write_text(script, encoding="utf-8")

    result = subprocess.run(["node", str(path)], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert "associateSingleIssue complete" in result.stdout
    assert "pushSingleIssue complete" in result.stdout
    assert "success: true" in result.stdout.split("pushSingleIssue complete", 1)[1]
    assert "Done!" in result.stdout
    _assert_case_shows_the_issue(demo)


# Where a statement starts in the example: the documentation page flattened the script onto one
# line, so each "// comment" must end again before the code that followed it on its own line.
_STATEMENT_START = (
    r" (?=(?:const \w+ =|async function \w+\(|\"\w+\":|\}|await |console\.|main\(\);|"
    r"return |if \())|(?<!async) (?=function \w+\()"
)
_COMMENT = r"(?<![:\w])//.*?(?:" + _STATEMENT_START + ")"


def seed_example_script(document: str) -> str:
    """The example client script of the seed document, with its lost line breaks restored."""
    flat = document[document.index("// API Access Token") : document.rindex("main();") + 7]
    without_comments = re.sub(_COMMENT, "\n", flat)
    return re.sub(_STATEMENT_START, "\n", without_comments)


def _assert_case_shows_the_issue(demo: dict[str, Any]) -> None:
    sandbox = demo["sandbox"]
    with httpx2.Client(verify=_ssl_context(sandbox["ca_file"]), timeout=30) as http:
        jira = http.get(
            f"{sandbox['jira']['url']}/rest/api/2/issue/{demo['issue_key']}",
            auth=(sandbox["jira"]["email"], sandbox["jira"]["api_token"]),
        ).json()
        case = http.get(
            f"{sandbox['salesforce']['url']}/services/data/v62.0/sobjects/Case/{demo['soid']}",
            headers={"Authorization": f"Bearer {sandbox['salesforce']['access_token']}"},
        ).json()
    assert case["Subject"] == jira["fields"]["summary"]


def _ssl_context(ca_file: str) -> Any:
    import ssl

    return ssl.create_default_context(cafile=ca_file)


def test_the_demo_registers_its_webhook_and_an_edit_in_jira_is_pushed_through_it(
    demo: dict[str, Any],
) -> None:
    import time

    sandbox = demo["sandbox"]
    jira_auth = (sandbox["jira"]["email"], sandbox["jira"]["api_token"])
    assert demo["webhook"]["status"] in ("registered", "updated")
    with httpx2.Client(verify=_ssl_context(sandbox["ca_file"]), timeout=30) as http:
        hooks = http.get(f"{sandbox['jira']['url']}/rest/webhooks/1.0/webhook", auth=jira_auth)
        [hook] = hooks.json()
        assert hook["url"] == f"{demo['base_url']}/webhooks/jira/{demo['connection_id']}"
        assert hook["filters"]["issue-related-events-section"] == 'project in ("TEST")'

        # A pair of its own (the other tests use TEST-5 and the first Case), pushed automatically.
        cases = http.get(
            f"{sandbox['salesforce']['url']}/services/data/v62.0/query",
            params={"q": "SELECT Id FROM Case ORDER BY CreatedDate LIMIT 2"},
            headers={"Authorization": f"Bearer {sandbox['salesforce']['access_token']}"},
        ).json()["records"]
        case_id = cases[1]["Id"]
        associated = http.post(
            f"{demo['base_url']}/external/api/association",
            json={"jiraIssueId": "TEST-3", "son": "Case", "soid": case_id, "autoPush": True},
            headers={"Authorization": f"JWT {demo['token']}"},
        )
        assert associated.status_code in (200, 201), associated.text
        edited = http.post(
            f"{sandbox['jira']['url']}/__sandbox/jira/issues/TEST-3/edit",
            json={"fields": {"summary": "Renew the TLS certificate before Friday"}},
        )
        assert edited.status_code == 200, edited.text

        # Delivery, intake and the worker's push take their time: wait for the effect.
        deadline = time.monotonic() + 60
        subject = None
        while time.monotonic() < deadline:
            subject = http.get(
                f"{sandbox['salesforce']['url']}/services/data/v62.0/sobjects/Case/{case_id}",
                headers={"Authorization": f"Bearer {sandbox['salesforce']['access_token']}"},
            ).json()["Subject"]
            if subject == "Renew the TLS certificate before Friday":
                break
            time.sleep(0.5)
    assert subject == "Renew the TLS certificate before Friday"
