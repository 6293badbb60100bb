"""The README's "Try it" blocks, typed into bash against a running hub, do what the README says.

The blocks are taken from README.md as written; only the addresses change (the hub of this test runs on
free ports) and, after each MQTT publish or sandbox payment, a short pause stands in for the seconds a
reader takes to type the next line (the hub takes device messages and callbacks in asynchronously).
The README's resident, phone and thing names are fixed, so the walkthrough gets a hub of its own, as a
newcomer's fresh `make run` would be.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import ROOT, Hub, start_hub, stop_hub

#: lines whose effect arrives a moment later (device messages through the queue, sandbox callbacks)
ASYNCHRONOUS = ("paho.mqtt.publish", "/_sandbox/wechat/request-payment", "/_sandbox/wechat/transfers/")


def _try_it_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Try it", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def _script(hub: Hub) -> str:
    api_port = hub.api.rsplit(":", 1)[1]
    sandbox_port = hub.sandbox.rsplit(":", 1)[1]
    lines = ["set -e -o pipefail"]
    for block in _try_it_blocks():
        for line in block.splitlines():
            if line.startswith("make run"):
                continue  # the hub is already running (the fixture starts `python -m localcloud up`)
            line = (line.replace("localhost:8000", f"127.0.0.1:{api_port}")
                    .replace("localhost:8010", f"127.0.0.1:{sandbox_port}")
                    .replace("Bearer dev-admin", f"Bearer {hub.admin_token}")
                    .replace("hostname='127.0.0.1'", f"hostname='127.0.0.1', port={hub.mqtt_port}"))
            lines.append(line)
            if any(asynchronous in line for asynchronous in ASYNCHRONOUS):
                lines.append("sleep 3")
    lines.append('echo; echo "CID=$CID"; echo "TOKEN=$T"; echo "OID=$OID"')
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def fresh_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    hub = start_hub(tmp_path_factory.mktemp("walkthrough"), admin_token="dev-admin")
    yield hub
    stop_hub(hub)


def test_the_readme_walkthrough_runs_as_written(fresh_hub: Hub, tmp_path: Path) -> None:
    hub = fresh_hub
    blocks = _try_it_blocks()
    assert len(blocks) >= 4, "the README's Try it section lost its command blocks"
    script = tmp_path / "try_it.sh"
    script.write_text(_script(hub), encoding="utf-8")
    done = subprocess.run(["bash", str(script)], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = dict(re.findall(r"^(CID|TOKEN|OID)=(\S+)$", done.stdout, flags=re.M))
    cid, token, order_id = found["CID"], found["TOKEN"], found["OID"]
    resident = {"Authorization": f"Bearer {token}"}

    # what the README's comments promise, read back through the API
    deadline = time.monotonic() + 30
    while True:
        withdrawals = requests.get(hub.api + "/v1/wallet/withdrawals", headers=resident, timeout=5).json()["items"]
        if (withdrawals and withdrawals[0]["status"] == "succeeded") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert [w["status"] for w in withdrawals] == ["succeeded"]
    assert requests.get(hub.api + "/v1/wallet", headers=resident, timeout=5).json()["balance_fen"] == 188 - 100
    ledger = requests.get(f"{hub.api}/v1/admin/communities/{cid}/ledger", headers=hub.admin(), timeout=5).json()
    assert ledger["invariants_ok"] is True
    order = requests.get(f"{hub.api}/v1/orders/{order_id}", headers=resident, timeout=5).json()
    assert order["status"] == "accepted"
    tasks = requests.get(f"{hub.api}/v1/admin/communities/{cid}/tasks?status=open", headers=hub.admin(),
                         timeout=5).json()["items"]
    assert len(tasks) == 1
    assert "停水通知" in done.stdout  # the TV page shows the notice just published
