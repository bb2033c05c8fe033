"""Credentials: apart from the flow, encrypted at rest, never in logs or reprs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from plantwire.runtime.credentials import CredentialStore
from plantwire.runtime.errors import CredentialsError, PlantwireError
from tests.conftest import probe, tab


async def test_credentials_are_taken_out_of_the_flow_and_encrypted(
    make_runtime: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rt = make_runtime()
    flows = [tab(), probe("db", credentials={"user": "plant", "password": "s3cret-pw"})]
    with caplog.at_level(logging.DEBUG):
        await rt.deploy(flows)
    node = rt.get_node("db")
    assert node.credentials["password"] == "s3cret-pw"
    assert "credentials" not in rt.flowset.by_id["db"]
    assert "s3cret-pw" not in repr(node.credentials)
    stored = (tmp_path / "flows_cred.json").read_text()
    assert "s3cret-pw" not in stored and "plant" not in stored
    assert "s3cret-pw" not in caplog.text
    await rt.stop()
    rt2 = make_runtime()
    await rt2.deploy([tab(), probe("db")])  # credentials stay when the flow omits them
    assert rt2.get_node("db").credentials["user"] == "plant"


def test_wrong_secret_is_a_clear_error(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path, "right")
    store.set("n1", {"password": "x"})
    store.save()
    other = CredentialStore(tmp_path, "wrong")
    with pytest.raises(CredentialsError, match="credential secret"):
        other.load()


def test_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.set("n1", {"token": "abc"})
    store.save()
    conf = json.loads((tmp_path / ".config.json").read_text())
    assert len(conf["credentialSecret"]) == 64
    assert (tmp_path / ".config.json").stat().st_mode & 0o777 == 0o600
    again = CredentialStore(tmp_path)
    again.load()
    assert again.get("n1") == {"token": "abc"}


def test_credentials_of_removed_nodes_are_dropped(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path, "s")
    store.extract([{"id": "a", "type": "x", "credentials": {"k": "v"}}])
    assert store.get("a") == {"k": "v"}
    store.extract([{"id": "b", "type": "x"}])
    assert store.get("a") == {}


async def test_a_refused_deploy_keeps_every_credential(make_runtime: Any) -> None:
    rt = make_runtime()
    await rt.deploy([tab(), probe("db", credentials={"password": "s3cret-pw"})])
    # a flow without "db" that is refused (a wire to a missing node) changes nothing ...
    bad = [tab(), {"id": "x", "type": "test-probe", "z": "t1", "wires": [["gone"]]}]
    with pytest.raises(PlantwireError):
        await rt.deploy(bad)
    # ... so the next good deploy still has the password
    await rt.deploy([tab(), probe("db"), probe("other")])
    assert rt.get_node("db").credentials["password"] == "s3cret-pw"
