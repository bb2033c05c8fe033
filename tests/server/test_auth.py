"""Authentication of `plantwire serve`: users, sessions with CSRF, bearer tokens, the CLI."""

from __future__ import annotations

import asyncio
import io
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from plantwire.cli import main
from plantwire.server.app import PlantwireServer
from plantwire.server.auth import hash_password
from tests.server.conftest import Running, open_comms

PASSWORD = "correct horse battery"
FLOWS = [{"id": "t1", "type": "tab"}, {"id": "n1", "type": "comment", "z": "t1", "wires": []}]


def with_users(server: PlantwireServer) -> None:
    server.store.add_user("ada", "admin", hash_password(PASSWORD))
    server.store.add_user("val", "viewer", hash_password(PASSWORD))


async def login(r: Running, name: str = "ada", password: str = PASSWORD) -> dict[str, Any]:
    async with r.http.post(
        r.url + "/auth/login", json={"username": name, "password": password}
    ) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def status_of(r: Running, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with r.http.request(method, r.url + path, **kwargs) as resp:
        text = await resp.text()
        return resp.status, (await resp.json() if resp.content_type == "application/json" else text)


async def test_without_login_everything_but_the_login_is_refused(serve):
    r = await serve(setup=with_users)
    for method, path in (("GET", "/flows"), ("POST", "/flows"), ("GET", "/nodes"),
                         ("POST", "/inject/n1"), ("GET", "/flow/t1"), ("DELETE", "/flow/t1"),
                         ("GET", "/settings"), ("GET", "/revisions")):  # fmt: skip
        status, body = await status_of(r, method, path, json=[])
        assert (status, body["code"]) == (401, "unauthorized"), (method, path)
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await r.http.ws_connect(r.url + "/comms")
    prompt = await status_of(r, "GET", "/auth/login")
    assert prompt[1]["type"] == "credentials"
    assert (await status_of(r, "GET", "/auth/me"))[1] == {"auth": True, "user": None, "csrf": None}
    assert (await status_of(r, "GET", "/openapi.json"))[0] == 200
    bad = await status_of(r, "POST", "/auth/login", json={"username": "ada", "password": "nope"})
    assert bad[0] == 401


async def test_cookie_session_needs_the_csrf_header_on_every_change(serve):
    r = await serve(setup=with_users)
    session = await login(r)
    assert session["user"] == {"name": "ada", "role": "admin"}
    cookies = {c.key: c for c in r.http.cookie_jar}
    assert (
        cookies["pw_session"]["httponly"] and cookies["pw_session"]["samesite"].lower() == "strict"
    )
    assert cookies["pw_csrf"].value == session["csrf"]

    assert (await status_of(r, "GET", "/flows"))[0] == 200
    status, body = await status_of(r, "POST", "/flows", json=FLOWS)
    assert (status, body["code"]) == (403, "csrf_failed")
    wrong = {"X-CSRF-Token": "guess"}
    assert (await status_of(r, "POST", "/flows", json=FLOWS, headers=wrong))[0] == 403
    assert (await status_of(r, "GET", "/flows"))[1] == []  # nothing deployed
    good = {"X-CSRF-Token": session["csrf"]}
    assert (await status_of(r, "POST", "/flows", json=FLOWS, headers=good))[0] == 204
    assert (await status_of(r, "GET", "/flows"))[1] == FLOWS
    me = (await status_of(r, "GET", "/auth/me"))[1]
    assert me["user"]["name"] == "ada" and me["csrf"] == session["csrf"]

    comms = await open_comms(r)  # the cookie opens the WebSocket
    assert (await status_of(r, "POST", "/flows", json=FLOWS, headers=good))[0] == 204
    assert (await comms.next("deploy"))["data"]["user"] == "ada"
    assert (await status_of(r, "GET", "/revisions"))[1][0]["user"] == "ada"

    assert (await status_of(r, "POST", "/auth/logout", headers=good))[0] == 204
    r.http.cookie_jar.update_cookies({"pw_session": cookies["pw_session"].value})
    assert (await status_of(r, "GET", "/flows"))[0] == 401  # the session is gone


async def test_bearer_tokens_work_without_csrf_and_viewers_only_read(serve):
    tokens: dict[str, str] = {}

    def setup(server: PlantwireServer) -> None:
        with_users(server)
        tokens["ada"] = server.store.create_token("ada", "script")
        tokens["val"] = server.store.create_token("val", "dashboard")

    r = await serve(setup=setup)
    ada = {"Authorization": f"Bearer {tokens['ada']}"}
    assert (await status_of(r, "POST", "/flows", json=FLOWS, headers=ada))[0] == 204
    assert (await status_of(r, "GET", "/flows", headers=ada))[1] == FLOWS
    ws = await r.http.ws_connect(r.url + "/comms", headers=ada)
    await ws.close()

    val = {"Authorization": f"Bearer {tokens['val']}"}
    assert (await status_of(r, "GET", "/flows", headers=val))[0] == 200
    status, body = await status_of(r, "POST", "/flows", json=FLOWS, headers=val)
    assert (status, body["code"]) == (403, "forbidden")
    nobody = {"Authorization": "Bearer pwt_not-a-token"}
    assert (await status_of(r, "GET", "/flows", headers=nobody))[0] == 401

    # Node-RED's token endpoint (node-red-admin logs in this way)
    form = {"client_id": "node-red-admin", "grant_type": "password", "scope": "*",
            "username": "ada", "password": PASSWORD}  # fmt: skip
    status, issued = await status_of(r, "POST", "/auth/token", data=form)
    assert status == 200 and issued["token_type"] == "Bearer"
    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    assert (await status_of(r, "GET", "/nodes", headers=bearer))[0] == 200
    revoke = {"token": issued["access_token"]}
    assert (await status_of(r, "POST", "/auth/revoke", json=revoke, headers=ada))[0] == 200
    assert (await status_of(r, "GET", "/nodes", headers=bearer))[0] == 401


async def test_repeated_failed_logins_are_slowed_down(serve):
    r = await serve(setup=with_users)
    wrong = {"username": "ada", "password": "wrong password"}
    codes = [(await status_of(r, "POST", "/auth/login", json=wrong))[0] for _ in range(6)]
    assert codes == [401] * 5 + [429]
    right = {"username": "ada", "password": PASSWORD}
    assert (await status_of(r, "POST", "/auth/login", json=right))[0] == 429


async def test_without_users_auth_is_off_on_loopback_but_foreign_hosts_are_refused(serve):
    r = await serve()
    assert (await status_of(r, "GET", "/auth/me"))[1]["auth"] is False
    assert (await status_of(r, "GET", "/auth/login"))[1] == {}
    assert (await status_of(r, "POST", "/flows", json=FLOWS))[0] == 204
    # DNS rebinding: a page from another name that resolves to 127.0.0.1
    status, body = await status_of(r, "GET", "/flows", headers={"Host": "evil.example:1880"})
    assert (status, body["code"]) == (403, "forbidden_host")


def test_serve_refuses_a_public_address_without_an_admin(tmp_path: Path, capsys) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0" in err and "plantwire user add" in err


def test_user_commands_add_list_token_remove(tmp_path: Path, capsys, monkeypatch) -> None:
    data = str(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["user", "add", "ada", "--password-stdin", "--data", data]) == 0
    assert "added ada (admin)" in capsys.readouterr().out  # the first user is an admin
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["user", "add", "bob", "--password-stdin", "--data", data]) == 0
    assert "added bob (editor)" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["user", "add", "bob", "--password-stdin", "--data", data]) == 1
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["user", "add", "eve", "--password-stdin", "--data", data]) == 1
    assert "at least 8" in capsys.readouterr().err
    assert main(["user", "token", "ada", "--data", data]) == 0
    assert capsys.readouterr().out.startswith("pwt_")
    assert main(["user", "list", "--data", data]) == 0
    listing = capsys.readouterr().out
    assert "ada" in listing and "admin" in listing and "1 token(s)" in listing
    assert main(["user", "remove", "bob", "--data", data]) == 0
    assert main(["user", "remove", "bob", "--data", data]) == 1
    capsys.readouterr()
    assert main(["user", "list", "--data", data]) == 0
    assert "bob" not in capsys.readouterr().out


async def test_plantwire_serve_process_end_to_end(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    cli = [sys.executable, "-m", "plantwire.cli"]
    subprocess.run(
        [*cli, "user", "add", "ada", "--password-stdin", "--data", data],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    token = subprocess.run(
        [*cli, "user", "token", "ada", "--data", data], text=True, check=True, capture_output=True
    ).stdout.strip()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        *cli, "serve", "--port", str(port), "--data", data,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(url + "/auth/me") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            async with http.get(url + "/flows") as resp:
                assert resp.status == 401
            bearer = {"Authorization": f"Bearer {token}"}
            async with http.post(url + "/flows", json=FLOWS, headers=bearer) as resp:
                assert resp.status == 204
            async with http.get(url + "/flows", headers=bearer) as resp:
                assert await resp.json() == FLOWS
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, output.decode()
    assert b"Traceback" not in output
    assert b"authentication on" in output


def test_serve_with_the_wrong_credential_secret_stops_with_a_clear_error(
    tmp_path: Path, capsys
) -> None:
    from plantwire.runtime.credentials import CredentialStore

    store = CredentialStore(tmp_path, "the right secret")
    store.set("n1", {"password": "pw"})
    store.save()
    args = ["serve", "--data", str(tmp_path), "--credential-secret", "a wrong one"]
    assert main(args) == 2
    assert "cannot decrypt" in capsys.readouterr().err
