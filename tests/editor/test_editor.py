"""End-to-end tests of the browser editor in real headless Chromium (frontend/ built with
`make editor`, served by `plantwire serve --editor`). Each test saves a screenshot into
docs/editor/ for docs/editor.md."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

from playwright.sync_api import expect

from tests.editor.conftest import Server, screenshot

DEPLOYED = re.compile(r"^Deployed \(")


def open_editor(page: Any, server: Server) -> None:
    page.goto(server.url + "/")
    expect(page.get_by_test_id("palette")).to_be_visible()
    expect(page.locator(".react-flow__pane")).to_be_visible()


def drop_node(page: Any, node_type: str, x: int, y: int) -> str:
    """Drag `node_type` from the palette onto the canvas at (x, y); return the new node's id."""
    before = set(
        page.locator(f".pw-node[data-node-type='{node_type}']").evaluate_all(
            "els => els.map(e => e.dataset.nodeId)"
        )
    )
    page.get_by_test_id("palette-search").fill(node_type)
    page.locator(f"[data-palette-type='{node_type}']").drag_to(
        page.locator(".react-flow__pane"), target_position={"x": x, "y": y}
    )
    page.get_by_test_id("palette-search").fill("")
    page.get_by_test_id("palette-search").blur()
    nodes = page.locator(f".pw-node[data-node-type='{node_type}']")
    expect(nodes).to_have_count(len(before) + 1)
    ids = set(nodes.evaluate_all("els => els.map(e => e.dataset.nodeId)"))
    (new,) = ids - before
    return str(new)


def wire(page: Any, source: str, target: str, port: int = 0) -> None:
    """Draw a wire from `source`'s output `port` to `target`'s input with the mouse."""
    out = page.locator(f".react-flow__node[data-id='{source}'] .react-flow__handle.source").nth(
        port
    )
    inp = page.locator(f".react-flow__node[data-id='{target}'] .react-flow__handle.target")
    a = out.bounding_box()
    b = inp.bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move((a["x"] + b["x"]) / 2, (a["y"] + b["y"]) / 2 + 20, steps=5)
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=5)
    page.mouse.up()


def deploy(page: Any) -> None:
    page.get_by_test_id("deploy").click()
    deployed(page)


def deployed(page: Any) -> None:
    """Wait until a deploy went through."""
    expect(page.get_by_test_id("notice").filter(has_text=DEPLOYED).last).to_be_visible()
    expect(page.locator(".pw-deploy-count")).to_have_count(0)  # nothing left undeployed


def test_build_deploy_and_debug_a_flow(start_server: Any, page: Any) -> None:
    """From an empty server: drag inject, change and debug from the palette, wire them, set
    the change node's rule in its form, deploy, press inject, read "hello" in the sidebar."""
    server = start_server()
    open_editor(page, server)
    inject = drop_node(page, "inject", 110, 120)
    change = drop_node(page, "change", 310, 120)
    debug = drop_node(page, "debug", 510, 120)
    wire(page, inject, change)
    wire(page, change, debug)
    expect(page.locator(".react-flow__edge")).to_have_count(2)

    page.locator(f".react-flow__node[data-id='{change}']").dblclick()
    tray = page.get_by_test_id("edit-tray")
    expect(tray).to_be_visible()
    expect(tray.locator("[data-field='rules.0.t']")).to_have_value("set")
    expect(tray.locator("[data-field='rules.0.p']")).to_have_value("payload")
    tray.locator("[data-field='rules.0.to.__type']").select_option("str")
    tray.locator("[data-field='rules.0.to']").fill("hello")
    screenshot(page, "node-form")
    tray.get_by_test_id("tray-done").click()
    expect(tray).to_have_count(0)

    deploy(page)
    flows = server.get("/flows")
    by_id = {n["id"]: n for n in flows}
    assert by_id[inject]["wires"] == [[change]]
    assert by_id[change]["wires"] == [[debug]]
    assert by_id[change]["rules"][0] == {
        "t": "set",
        "p": "payload",
        "pt": "msg",
        "to": "hello",
        "tot": "str",
    }

    page.get_by_test_id(f"inject-{inject}").click()
    msg = page.locator(f".pw-debug-msg[data-node='{debug}']")
    expect(msg).to_have_count(1)
    expect(msg.locator(".pw-debug-value")).to_have_text('"hello"')
    screenshot(page, "build-deploy-debug")


NODE_RED_FLOWS: list[dict[str, Any]] = [
    {"id": "f1a2b3c4d5e6f708", "type": "tab", "label": "Line 4", "disabled": False, "info": ""},
    {
        "id": "a1b2c3d4e5f60718",
        "type": "inject",
        "z": "f1a2b3c4d5e6f708",
        "name": "count",
        "props": [{"p": "payload"}, {"p": "topic", "vt": "str"}],
        "repeat": "",
        "crontab": "",
        "once": False,
        "onceDelay": 0.1,
        "topic": "line4/count",
        "payload": "41",
        "payloadType": "num",
        "x": 140,
        "y": 100,
        "wires": [["b1b2c3d4e5f60718"]],
    },
    {
        "id": "b1b2c3d4e5f60718",
        "type": "change",
        "z": "f1a2b3c4d5e6f708",
        "name": "add one",
        "rules": [{"t": "set", "p": "payload", "pt": "msg", "to": "payload + 1", "tot": "jsonata"}],
        "action": "",
        "property": "",
        "from": "",
        "to": "",
        "reg": False,
        "x": 330,
        "y": 100,
        "wires": [["c1b2c3d4e5f60718"]],
    },
    {
        "id": "c1b2c3d4e5f60718",
        "type": "debug",
        "z": "f1a2b3c4d5e6f708",
        "name": "result",
        "active": True,
        "tosidebar": True,
        "console": False,
        "tostatus": True,
        "complete": "payload",
        "targetType": "msg",
        "statusVal": "payload",
        "statusType": "auto",
        "x": 520,
        "y": 100,
        "wires": [],
    },
]


def test_import_node_red_flows_and_deploy(start_server: Any, page: Any) -> None:
    """A flows.json copied from Node-RED pastes into the import dialog, shows on its own
    tab with its wires, deploys as it is, and runs."""
    server = start_server()
    open_editor(page, server)
    page.get_by_test_id("open-import").click()
    dialog = page.get_by_test_id("import-dialog")
    dialog.get_by_test_id("import-text").fill("[not json")
    dialog.get_by_test_id("import-ok").click()
    expect(dialog.get_by_test_id("import-error")).to_contain_text("not valid JSON")
    dialog.get_by_test_id("import-text").fill(json.dumps(NODE_RED_FLOWS, indent=2))
    screenshot(page, "import-dialog")
    dialog.get_by_test_id("import-ok").click()
    expect(dialog).to_have_count(0)

    expect(page.locator(".pw-tab.active > span")).to_have_text("Line 4")
    expect(page.locator(".pw-node")).to_have_count(3)
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    expect(page.locator(".pw-node[data-node-id='b1b2c3d4e5f60718']")).to_contain_text("add one")

    deploy(page)
    flows = {n["id"]: n for n in server.get("/flows")}
    for node in NODE_RED_FLOWS:
        assert node["id"] in flows
    assert flows["b1b2c3d4e5f60718"]["rules"] == NODE_RED_FLOWS[2]["rules"]
    assert flows["a1b2c3d4e5f60718"]["wires"] == [["b1b2c3d4e5f60718"]]

    page.get_by_test_id("inject-a1b2c3d4e5f60718").click()
    msg = page.locator(".pw-debug-msg[data-node='c1b2c3d4e5f60718']")
    expect(msg.locator(".pw-debug-value")).to_have_text("42")
    # the debug node's status (tostatus) arrives over /comms and shows under the node
    expect(page.get_by_test_id("status-c1b2c3d4e5f60718")).to_contain_text("42")
    page.locator(".pw-node[data-node-id='b1b2c3d4e5f60718']").click()
    screenshot(page, "import-deployed")

    # export gives the same nodes back (what Node-RED's import takes)
    page.get_by_test_id("open-export").click()
    page.get_by_test_id("export-flow").check()
    exported = json.loads(page.get_by_test_id("export-text").input_value())
    assert {n["id"] for n in exported} == {n["id"] for n in NODE_RED_FLOWS}


def test_validation_errors_on_field_node_and_server(start_server: Any, page: Any) -> None:
    """An invalid number shows on the field and as a badge on the node; deploying anyway
    shows the server's 400 with node and field, and the running flows stay."""
    server = start_server()
    open_editor(page, server)
    fn = drop_node(page, "function", 200, 150)
    expect(page.get_by_test_id(f"badge-{fn}")).to_have_count(0)
    page.locator(f".react-flow__node[data-id='{fn}']").dblclick()
    tray = page.get_by_test_id("edit-tray")
    tray.locator("[data-field='outputs']").fill("two")
    expect(tray.locator("[data-error-for='outputs']")).to_contain_text("whole number")
    expect(tray.get_by_test_id("form-errors")).to_be_visible()
    screenshot(page, "validation-field")
    tray.get_by_test_id("tray-done").click()
    badge = page.get_by_test_id(f"badge-{fn}")
    expect(badge).to_be_visible()
    assert "outputs" in badge.get_attribute("title")

    page.get_by_test_id("deploy").click()
    confirm = page.get_by_test_id("confirm-invalid")
    expect(confirm).to_contain_text("outputs")
    confirm.get_by_test_id("deploy-anyway").click()
    refused = page.get_by_test_id("deploy-error")
    expect(refused).to_contain_text("400")
    expect(refused).to_contain_text("function")
    expect(refused).to_contain_text("outputs")
    screenshot(page, "validation-server-400")
    assert server.get("/flows") == []

    # fixing the field clears the badge and the deploy goes through
    refused.get_by_role("button", name="Close", exact=True).click()
    page.locator(f".react-flow__node[data-id='{fn}']").dblclick()
    tray = page.get_by_test_id("edit-tray")
    tray.locator("[data-field='outputs']").fill("2")
    code = "msg['payload'] = 2 * msg['payload']\nreturn [msg, None]"
    tray.locator("[data-field='func'] .cm-content").fill(code)
    page.get_by_test_id("tray-done").click()
    expect(page.get_by_test_id(f"badge-{fn}")).to_have_count(0)
    expect(
        page.locator(f".react-flow__node[data-id='{fn}'] .react-flow__handle.source")
    ).to_have_count(2)
    deploy(page)
    (saved,) = [n for n in server.get("/flows") if n["id"] == fn]
    assert saved["outputs"] == 2
    assert saved["func"] == code


def test_login_when_auth_is_on(start_server: Any, page: Any) -> None:
    """With a user the editor asks to log in; a wrong password is refused, the right one
    opens the editor, and deploying works with the session (cookie + CSRF token)."""
    server = start_server(users=[("admin", "correct horse battery")])
    page.goto(server.url + "/")
    login = page.get_by_test_id("login-dialog")
    expect(login).to_be_visible()
    login.locator("input[name=username]").fill("admin")
    login.locator("input[name=password]").fill("wrong password")
    login.get_by_test_id("login-ok").click()
    expect(login.get_by_test_id("login-error")).to_contain_text("invalid username or password")
    login.locator("input[name=password]").fill("correct horse battery")
    screenshot(page, "login")
    login.get_by_test_id("login-ok").click()
    expect(page.get_by_test_id("palette")).to_be_visible()
    expect(page.locator(".pw-user")).to_contain_text("admin")

    inject = drop_node(page, "inject", 150, 150)
    debug = drop_node(page, "debug", 350, 150)
    wire(page, inject, debug)
    deploy(page)
    token_free = server.get("/auth/me")
    assert token_free["user"] is None  # the API itself still refuses anonymous callers
    page.get_by_test_id(f"inject-{inject}").click()
    expect(page.locator(f".pw-debug-msg[data-node='{debug}']")).to_have_count(1)


def selected(page: Any) -> Any:
    return page.locator(".pw-node.selected")


def test_workspace_select_copy_paste_delete_undo_tabs(start_server: Any, page: Any) -> None:
    """Box-select, Ctrl+C / Ctrl+V, Delete, Ctrl+Z / Ctrl+Y, Ctrl+A, several flow tabs."""
    server = start_server()
    open_editor(page, server)
    inject = drop_node(page, "inject", 110, 100)
    debug = drop_node(page, "debug", 330, 100)
    wire(page, inject, debug)
    drop_node(page, "comment", 220, 300)

    # box-select the inject and the debug node (not the comment) by dragging on the pane
    pane = page.locator(".react-flow__pane").bounding_box()
    page.mouse.move(pane["x"] + 20, pane["y"] + 40)
    page.mouse.down()
    page.mouse.move(pane["x"] + 250, pane["y"] + 120, steps=4)
    page.mouse.move(pane["x"] + 450, pane["y"] + 180, steps=4)
    page.mouse.up()
    expect(selected(page)).to_have_count(2)

    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    expect(page.locator(".pw-node")).to_have_count(5)
    expect(page.locator(".react-flow__edge")).to_have_count(2)  # the copy keeps its wire
    expect(selected(page)).to_have_count(2)  # the pasted nodes are selected
    page.keyboard.press("Delete")
    expect(page.locator(".pw-node")).to_have_count(3)
    page.keyboard.press("Control+z")
    expect(page.locator(".pw-node")).to_have_count(5)
    page.keyboard.press("Control+y")
    expect(page.locator(".pw-node")).to_have_count(3)
    page.keyboard.press("Control+a")
    expect(selected(page)).to_have_count(3)

    # a second flow tab
    page.get_by_test_id("add-tab").click()
    expect(page.locator(".pw-tab")).to_have_count(2)
    expect(page.locator(".pw-node")).to_have_count(0)
    drop_node(page, "inject", 150, 150)
    page.get_by_test_id("deploy-menu").click()
    expect(page.get_by_test_id("deploy-changes")).to_contain_text("added")
    page.get_by_test_id("deploy-menu").click()
    page.keyboard.press("Control+d")  # Node-RED's deploy shortcut
    deployed(page)
    flows = server.get("/flows")
    assert len([n for n in flows if n["type"] == "tab"]) == 2
    assert len([n for n in flows if n["type"] == "inject"]) == 2
    page.locator(".pw-tab").first.click()
    expect(page.locator(".pw-node")).to_have_count(3)
    screenshot(page, "workspace")


def test_debug_sidebar_and_stale_deploy(start_server: Any, page: Any) -> None:
    """Expandable JSON, pause and clear in the debug sidebar; a deploy over flows changed
    meanwhile by someone else gets a clear 409 message and can overwrite them."""
    server = start_server()
    open_editor(page, server)
    flows = [
        {"id": "t1", "type": "tab", "label": "Debug"},
        {
            "id": "in1",
            "type": "inject",
            "z": "t1",
            "props": [{"p": "payload", "v": '{"line": 4, "temps": [20.5, 21]}', "vt": "json"}],
            "x": 140,
            "y": 80,
            "wires": [["dbg"]],
        },
        {
            "id": "dbg",
            "type": "debug",
            "z": "t1",
            "complete": "payload",
            "tostatus": True,
            "statusType": "counter",
            "x": 440,
            "y": 80,
            "wires": [],
        },
    ]
    page.get_by_test_id("open-import").click()
    page.get_by_test_id("import-text").fill(json.dumps(flows))
    page.get_by_test_id("import-ok").click()
    deploy(page)

    page.get_by_test_id("inject-in1").click()
    msg = page.locator(".pw-debug-msg[data-node='dbg']")
    expect(msg).to_have_count(1)
    expect(msg.locator(".pw-json-key", has_text="line")).to_be_visible()
    temps = msg.locator("summary", has_text="temps")
    expect(temps).to_contain_text("array[2]")
    expect(msg.locator(".pw-json-number", has_text="20.5")).to_be_hidden()  # nested: collapsed
    temps.click()
    expect(msg.locator(".pw-json-number", has_text="20.5")).to_be_visible()
    screenshot(page, "debug-sidebar")

    status = page.get_by_test_id("status-dbg")
    expect(status).to_have_text("1")
    page.get_by_test_id("debug-pause").click()
    expect(page.get_by_test_id("debug-pause")).to_have_text("resume")  # the server confirmed
    page.get_by_test_id("inject-in1").click()
    expect(status).to_have_text("2")  # the message went through the debug node...
    page.get_by_test_id("debug-pause").click()
    expect(
        page.get_by_test_id("notice").filter(has_text="1 debug message(s) arrived while paused")
    ).to_be_visible()
    expect(msg).to_have_count(1)  # ...but was not sent to the sidebar
    page.get_by_test_id("inject-in1").click()
    expect(msg).to_have_count(2)
    page.get_by_test_id("debug-clear").click()
    expect(msg).to_have_count(0)

    # someone else deploys meanwhile: our next deploy is refused with 409
    other = [n for n in server.get("/flows")]
    other.append(
        {
            "id": "c9",
            "type": "comment",
            "z": "t1",
            "name": "theirs",
            "x": 140,
            "y": 200,
            "wires": [],
        }
    )
    req = urllib.request.Request(
        server.url + "/flows",
        data=json.dumps(other).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(req, timeout=5).close()
    page.locator(".react-flow__node[data-id='dbg']").dblclick()
    page.get_by_test_id("edit-tray").locator("[data-field='name']").fill("mine")
    page.get_by_test_id("tray-done").click()
    page.get_by_test_id("deploy").click()
    conflict = page.get_by_test_id("deploy-conflict")
    expect(conflict).to_contain_text("409")
    screenshot(page, "deploy-conflict")
    assert "c9" in {n["id"] for n in server.get("/flows")}
    conflict.get_by_test_id("conflict-overwrite").click()
    deployed(page)
    names = {n["id"]: n.get("name") for n in server.get("/flows")}
    assert names["dbg"] == "mine"
    assert "c9" not in names


STRUCTURED_FLOWS: list[dict[str, Any]] = [
    {"id": "t2", "type": "tab", "label": "Packing"},
    {
        "id": "sf1",
        "type": "subflow",
        "name": "Doubler",
        "info": "",
        "in": [{"x": 60, "y": 80, "wires": [{"id": "sfc"}]}],
        "out": [{"x": 360, "y": 80, "wires": [{"id": "sfc", "port": 0}]}],
    },
    {
        "id": "sfc",
        "type": "change",
        "z": "sf1",
        "rules": [{"t": "set", "p": "payload", "pt": "msg", "to": "payload * 2", "tot": "jsonata"}],
        "x": 210,
        "y": 80,
        "wires": [[]],
    },
    {
        "id": "grp",
        "type": "group",
        "z": "t2",
        "name": "Inputs",
        "style": {"stroke": "#2b6cb0", "fill": "#bee3f8", "label": True},
        "nodes": ["i2"],
        "x": 34,
        "y": 39,
        "w": 152,
        "h": 82,
    },
    {
        "id": "i2",
        "type": "inject",
        "z": "t2",
        "g": "grp",
        "props": [{"p": "payload", "v": "21", "vt": "num"}],
        "x": 110,
        "y": 80,
        "wires": [["si"]],
    },
    {"id": "si", "type": "subflow:sf1", "z": "t2", "x": 290, "y": 80, "wires": [["lo"]]},
    {
        "id": "lo",
        "type": "link out",
        "z": "t2",
        "mode": "link",
        "links": ["li"],
        "x": 415,
        "y": 80,
        "wires": [],
    },
    {
        "id": "li",
        "type": "link in",
        "z": "t2",
        "links": ["lo"],
        "x": 135,
        "y": 200,
        "wires": [["d2"]],
    },
    {
        "id": "d2",
        "type": "debug",
        "z": "t2",
        "complete": "payload",
        "x": 320,
        "y": 200,
        "wires": [],
    },
]


def test_groups_subflows_and_links_are_shown(start_server: Any, page: Any) -> None:
    """Groups, subflow instances (with their definition on its own tab) and link nodes from
    a Node-RED flow are shown, deploy unchanged and run."""
    server = start_server()
    open_editor(page, server)
    page.get_by_test_id("open-import").click()
    page.get_by_test_id("import-text").fill(json.dumps(STRUCTURED_FLOWS))
    page.get_by_test_id("import-ok").click()
    expect(page.locator(".pw-group")).to_contain_text("Inputs")
    expect(page.locator(".pw-node[data-node-id='si']")).to_contain_text("Doubler")
    expect(page.locator(".react-flow__edge.pw-link-edge")).to_have_count(1)
    expect(page.locator(".pw-tab.subflow")).to_contain_text("Doubler")
    deploy(page)
    assert {n["id"] for n in server.get("/flows")} >= {n["id"] for n in STRUCTURED_FLOWS}
    page.get_by_test_id("inject-i2").click()
    expect(page.locator(".pw-debug-msg[data-node='d2'] .pw-debug-value")).to_have_text("42")
    screenshot(page, "groups-subflows-links")

    # group the link in and the debug node (Ctrl+Shift+G), move the group, ungroup it
    page.keyboard.press("Escape")  # the imported nodes were selected
    page.locator(".react-flow__node[data-id='li']").click()
    page.locator(".react-flow__node[data-id='d2']").click(modifiers=["Control"])
    page.keyboard.press("Control+Shift+g")
    expect(page.locator(".pw-group")).to_have_count(2)
    x_before = page.evaluate("window.plantwireEditor.node('d2').x")
    new_group = page.evaluate("window.plantwireEditor.node('d2').g")
    box = page.locator(f".pw-group[data-group-id='{new_group}']").bounding_box()
    page.mouse.move(box["x"] + 6, box["y"] + box["height"] - 6)
    page.mouse.down()
    page.mouse.move(box["x"] + 56, box["y"] + box["height"] + 14, steps=5)
    page.mouse.up()
    moved = page.evaluate("window.plantwireEditor.node('d2').x") - x_before
    assert 40 <= moved <= 60  # the group's nodes moved with it (snapped to the 10 px grid)
    deploy(page)
    flows = {n["id"]: n for n in server.get("/flows")}
    assert flows["d2"]["g"] == new_group and flows["li"]["g"] == new_group
    assert sorted(flows[new_group]["nodes"]) == ["d2", "li"]
    page.locator(f".pw-group[data-group-id='{new_group}']").click(position={"x": 6, "y": 6})
    page.keyboard.press("Control+Shift+u")
    expect(page.locator(".pw-group")).to_have_count(1)
    assert page.evaluate("window.plantwireEditor.node('d2').g") is None

    page.locator(".pw-tab.subflow").click()
    expect(page.locator(".pw-node[data-node-id='sfc']")).to_be_visible()


def test_config_node_picker_and_write_only_secrets(start_server: Any, page: Any) -> None:
    """An mqtt in node's broker is picked / added in its form; the broker's password is
    sent once on deploy, stored encrypted, and never shown or exported again."""
    server = start_server()
    open_editor(page, server)
    node = drop_node(page, "mqtt in", 200, 150)
    page.locator(f".react-flow__node[data-id='{node}']").dblclick()
    tray = page.get_by_test_id("edit-tray")
    tray.locator("[data-field='topic']").fill("plantwire/editor-test")
    tray.get_by_test_id("add-config-broker").click()
    broker = tray.locator("[data-field='broker']").input_value()
    assert broker
    tray.get_by_title("edit the configuration node (this form is saved first)").click()
    expect(tray).to_contain_text("Edit mqtt-broker node (configuration)")
    tray.locator("[data-field='broker']").fill("127.0.0.1")
    tray.locator("[data-field='credentials.user']").fill("line4")
    tray.locator("[data-field='credentials.password']").fill("s3cret-pw")
    expect(tray.locator("[data-field='credentials.password']")).to_have_attribute(
        "type", "password"
    )
    tray.get_by_test_id("tray-done").click()
    deploy(page)

    flows = {n["id"]: n for n in server.get("/flows")}
    assert flows[node]["broker"] == broker
    assert flows[broker]["broker"] == "127.0.0.1"
    assert "credentials" not in flows[broker]
    assert "s3cret-pw" not in (server.data / "flows.json").read_text()
    assert server.get(f"/credentials/mqtt-broker/{broker}") == {
        "has_user": True,
        "has_password": True,
    }

    page.locator(f".react-flow__node[data-id='{node}']").dblclick()
    tray.get_by_title("edit the configuration node (this form is saved first)").click()
    password = tray.locator("[data-field='credentials.password']")
    expect(password).to_have_value("")
    expect(password).to_have_attribute("placeholder", re.compile("stored"))
    password.scroll_into_view_if_needed()
    screenshot(page, "config-node-secrets")
    tray.get_by_role("button", name="Cancel").click()
    page.get_by_test_id("open-export").click()
    page.get_by_test_id("export-all").check()
    assert "s3cret-pw" not in page.get_by_test_id("export-text").input_value()


def test_form_metadata_comes_from_the_catalogue(start_server: Any, page: Any) -> None:
    """Credentials, config pickers and choices come from the node catalogue: an amqp-broker's
    password is write-only, a redis-config's TLS setting picks a tls-config node, an e-mail
    node's SMTP server stays a text box, and fixed words are a select."""
    server = start_server()
    open_editor(page, server)
    node = drop_node(page, "amqp in", 200, 150)
    page.locator(f".react-flow__node[data-id='{node}']").dblclick()
    tray = page.get_by_test_id("edit-tray")
    exchange_type = tray.locator("select[data-field='exchangeType']")
    expect(exchange_type.locator("option")).to_have_text(["direct", "fanout", "topic", "headers"])
    exchange_type.select_option("fanout")
    tray.get_by_test_id("add-config-broker").click()
    broker = tray.locator("[data-field='broker']").input_value()
    tray.get_by_title("edit the configuration node (this form is saved first)").click()
    expect(tray).to_contain_text("Edit amqp-broker node (configuration)")
    expect(tray.locator("[data-field='credentials.user']")).to_have_attribute("type", "text")
    expect(tray.locator("[data-field='credentials.password']")).to_have_attribute(
        "type", "password"
    )
    tray.locator("[data-field='credentials.user']").fill("guest")
    tray.locator("[data-field='credentials.password']").fill("amqp-s3cret")
    tray.get_by_test_id("tray-done").click()
    deploy(page)
    flows = {n["id"]: n for n in server.get("/flows")}
    assert flows[node]["exchangeType"] == "fanout"
    assert "amqp-s3cret" not in (server.data / "flows.json").read_text()
    assert server.get(f"/credentials/amqp-broker/{broker}") == {
        "has_user": True,
        "has_password": True,
    }
    page.locator(f".react-flow__node[data-id='{node}']").dblclick()
    tray.get_by_title("edit the configuration node (this form is saved first)").click()
    expect(tray.locator("[data-field='credentials.password']")).to_have_attribute(
        "placeholder", re.compile("stored")
    )
    tray.get_by_role("button", name="Cancel").click()

    # a config node's reference to another config node (the old editor missed this one)
    redis = drop_node(page, "redis in", 200, 300)
    page.locator(f".react-flow__node[data-id='{redis}']").dblclick()
    tray.get_by_test_id("add-config-server").click()
    tray.get_by_title("edit the configuration node (this form is saved first)").click()
    expect(tray).to_contain_text("Edit redis-config node (configuration)")
    expect(tray.locator("select[data-field='tls']")).to_be_visible()
    tray.get_by_test_id("add-config-tls").click()
    expect(tray.locator("select[data-field='tls'] option")).to_have_count(2)  # none + the new
    expect(tray.locator("[data-field='credentials.password']")).to_have_attribute(
        "type", "password"
    )
    screenshot(page, "catalogue-metadata")
    tray.get_by_role("button", name="Cancel").click()

    # no picker where a field only happens to be called like a config type ("server")
    mail = drop_node(page, "e-mail", 500, 150)
    page.locator(f".react-flow__node[data-id='{mail}']").dblclick()
    expect(tray.locator("input[data-field='server']")).to_have_value("smtp.gmail.com")
    expect(tray.get_by_test_id("add-config-server")).to_have_count(0)
    expect(tray.locator("[data-field='credentials.userid']")).to_have_attribute("type", "text")


SUBFLOW_SOURCE: list[dict[str, Any]] = [
    {"id": "sft", "type": "tab", "label": "Line"},
    {
        "id": "si1",
        "type": "inject",
        "z": "sft",
        "props": [{"p": "payload", "v": "21", "vt": "num"}],
        "x": 120,
        "y": 100,
        "wires": [["sc1"]],
    },
    {
        "id": "sc1",
        "type": "change",
        "z": "sft",
        "rules": [{"t": "set", "p": "payload", "pt": "msg", "to": "payload * 2", "tot": "jsonata"}],
        "x": 300,
        "y": 100,
        "wires": [["sd1"]],
    },
    {"id": "sd1", "type": "debug", "z": "sft", "complete": "payload", "x": 480, "y": 100},
]


def test_create_edit_use_and_delete_a_subflow(start_server: Any, page: Any) -> None:
    """A subflow made from a selection replaces it with an instance wired in its place and
    runs when deployed; its tab edits name, ports and template; a second instance comes
    from the palette; deleting the subflow removes its instances."""
    server = start_server()
    open_editor(page, server)
    page.get_by_test_id("open-import").click()
    page.get_by_test_id("import-text").fill(json.dumps(SUBFLOW_SOURCE))
    page.get_by_test_id("import-ok").click()
    page.keyboard.press("Escape")
    page.locator(".react-flow__node[data-id='sc1']").click()
    page.get_by_test_id("create-subflow").click()

    ed = "window.plantwireEditor"
    sf = page.evaluate(f"{ed}.nodes.find(n => n.type === 'subflow').id")
    inst = page.evaluate(f"{ed}.instancesOf('{sf}')[0]")
    assert page.evaluate(f"{ed}.node('sc1').z") == sf
    assert page.evaluate(f"{ed}.node('si1').wires") == [[inst["id"]]]
    assert inst["wires"] == [["sd1"]] and inst["z"] == "sft"
    expect(page.locator(f".pw-node[data-node-id='{inst['id']}']")).to_contain_text("Subflow 1")
    expect(page.locator(f".pw-palette-node[data-palette-type='subflow:{sf}']")).to_contain_text(
        "Subflow 1"
    )
    page.keyboard.press("Control+z")  # undo puts the change node back
    assert page.evaluate(f"{ed}.node('sc1').z") == "sft"
    expect(page.locator(".pw-tab.subflow")).to_have_count(0)
    page.keyboard.press("Control+y")
    assert page.evaluate(f"{ed}.node('sc1').z") == sf

    deploy(page)
    flows = {n["id"]: n for n in server.get("/flows")}
    assert flows[sf]["in"][0]["wires"] == [{"id": "sc1"}]
    assert flows[sf]["out"][0]["wires"] == [{"id": "sc1", "port": 0}]
    page.get_by_test_id("inject-si1").click()
    expect(page.locator(".pw-debug-msg[data-node='sd1'] .pw-debug-value")).to_have_text("42")

    # its own tab: rename, ports, template
    page.locator(".pw-tab.subflow").click()
    expect(page.locator("[data-port-node='in0']")).to_be_visible()
    expect(page.locator("[data-port-node='out0']")).to_be_visible()
    expect(page.locator(".react-flow__edge")).to_have_count(2)  # input -> change -> output 1
    page.get_by_test_id("subflow-name").fill("Doubler")
    expect(page.locator(".pw-tab.subflow")).to_contain_text("Doubler")
    page.get_by_test_id("subflow-out-add").click()
    expect(page.get_by_test_id("subflow-outputs")).to_have_text("2")
    expect(page.locator("[data-port-node='out1']")).to_be_visible()
    wire(page, "sc1", "sfport|out|1")
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    assert page.evaluate(f"{ed}.node('{inst['id']}').wires") == [["sd1"], []]
    page.locator(".react-flow__node[data-id='sc1']").dblclick()
    tray = page.get_by_test_id("edit-tray")
    tray.locator("[data-field='name']").fill("times two")
    tray.get_by_test_id("tray-done").click()
    page.evaluate(f"{ed}.notices = []; {ed}.emit()")
    screenshot(page, "subflow-edit")

    # a second instance from the palette, on the flow tab
    page.locator(".pw-tab[data-tab-id='sft']").click()
    second = drop_node(page, f"subflow:{sf}", 300, 250)
    expect(page.locator(f".pw-node[data-node-id='{second}']")).to_contain_text("Doubler")
    expect(
        page.locator(f".react-flow__node[data-id='{second}'] .react-flow__handle.source")
    ).to_have_count(2)
    wire(page, "si1", second)
    deploy(page)
    flows = {n["id"]: n for n in server.get("/flows")}
    assert flows[sf]["name"] == "Doubler" and len(flows[sf]["out"]) == 2
    assert flows[second]["type"] == f"subflow:{sf}" and flows["sc1"]["name"] == "times two"

    # delete the subflow: its nodes and both instances go
    page.locator(".pw-tab.subflow").click()
    page.once("dialog", lambda d: d.accept())
    page.get_by_test_id("subflow-delete").click()
    expect(page.locator(".pw-tab.subflow")).to_have_count(0)
    expect(page.locator(f".pw-palette-node[data-palette-type='subflow:{sf}']")).to_have_count(0)
    deploy(page)
    ids = {n["id"] for n in server.get("/flows")}
    assert not ids & {sf, "sc1", inst["id"], second}
    assert server.get("/flows")[0]["id"] == "sft" or "si1" in ids
    assert page.evaluate(f"{ed}.node('si1').wires") == [[]]
