/** The editor: header with Deploy, palette, flow tabs with the canvas, sidebar, dialogs. */
import { useCallback, useEffect, useState } from "react";
import { ReactFlowProvider } from "@xyflow/react";
import { api, ApiError, setCsrf } from "./api";
import { Canvas } from "./Canvas";
import { ConfirmDialog, DeployErrorDialog, ExportDialog, ImportDialog, LoginDialog } from "./Dialogs";
import { NodeForm } from "./NodeForm";
import { Palette } from "./Palette";
import { Sidebar, comms } from "./Sidebar";
import { editor, portsOf, useEditor, type DeployType } from "./store";
import type { NodeDef, Problem, RawNode } from "./types";

const DEPLOY_LABELS: Record<DeployType, string> = { full: "Full", flows: "Modified flows", nodes: "Modified nodes" };
let deployInFlight = false;

async function loadFlows(): Promise<void> {
  const res = await api<{ rev: string; flows: RawNode[] }>("GET", "/flows", undefined, { "Node-RED-API-Version": "v2" });
  editor.load(res.flows, res.rev);
}

let commsStarted = false;

function connectComms(): void {
  if (commsStarted) return;
  commsStarted = true;
  let delay = 500;
  const open = () => {
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${location.pathname.replace(/[^/]*$/, "")}comms`);
    comms.ws = ws;
    ws.onopen = () => {
      delay = 500;
      if (editor.debugPaused) {
        editor.debugPaused = false;
        editor.emit();
      }
    };
    ws.onmessage = (ev) => {
      let events: { topic: string; data: Record<string, unknown> }[];
      try {
        events = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      for (const e of events) {
        if (e.topic === "debug") editor.addDebug(e.data as never);
        else if (e.topic.startsWith("status/")) {
          editor.status.set(e.topic.slice(7), e.data);
          editor.emit();
        } else if (e.topic === "log") editor.addLog(e.data as never);
        else if (e.topic === "debug/dropped") editor.notify("info", `${String(e.data.name || e.data.id)}: ${String(e.data.dropped)} debug message(s) dropped (more than the sidebar shows per second)`);
        else if (e.topic === "deploy") {
          if (!deployInFlight && e.data.rev !== editor.rev) {
            editor.notify("info", `The flows were deployed by ${String(e.data.user ?? "another client")}; your view is out of date (use Reload flows in the deploy menu).`, 10000);
          }
        } else if (e.topic === "debug/paused") {
          editor.debugPaused = Boolean(e.data.paused);
          editor.emit();
          if (!e.data.paused && Number(e.data.dropped) > 0) editor.notify("info", `${String(e.data.dropped)} debug message(s) arrived while paused`);
        }
      }
    };
    ws.onclose = () => {
      comms.ws = null;
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  };
  open();
}

/** What a deploy would change: added / changed / removed nodes since the last deploy. */
function DeployChanges() {
  const ed = useEditor();
  const ids = ed.changedIds();
  if (!ids.length) return <div className="pw-deploy-changes">No changes since the last deploy.</div>;
  const kind = (id: string) => (!ed.node(id) ? "removed" : !ed.deployed.has(id) ? "added" : "changed");
  const count = (k: string) => ids.filter((id) => kind(id) === k).length;
  const label = (id: string) => {
    const n = ed.node(id) ?? (JSON.parse(ed.deployed.get(id) ?? "{}") as RawNode);
    return `${n.type ?? "node"} ${String(n.name || n.label || id)}`;
  };
  return (
    <div className="pw-deploy-changes" data-testid="deploy-changes">
      {count("added")} added, {count("changed")} changed, {count("removed")} removed
      <ul>
        {ids.slice(0, 8).map((id) => (
          <li key={id} className={kind(id)}>
            {kind(id) === "added" ? "+ " : kind(id) === "removed" ? "− " : "~ "}
            {label(id)}
          </li>
        ))}
        {ids.length > 8 && <li>… {ids.length - 8} more</li>}
      </ul>
    </div>
  );
}

/** On a subflow's tab: its name, inputs and outputs, instances, and delete. */
function SubflowBar({ sf }: { sf: RawNode }) {
  const ed = useEditor();
  const ins = portsOf(sf, "in").length;
  const outs = portsOf(sf, "out").length;
  const uses = ed.instancesOf(sf.id).length;
  return (
    <div className="pw-subflow-bar" data-testid="subflow-bar">
      <label>
        subflow
        <input
          data-testid="subflow-name"
          value={String(sf.name ?? "")}
          onChange={(e) => {
            const v = e.target.value;
            editor.mutate(() => {
              sf.name = v;
              editor.registerSubflows();
            });
          }}
        />
      </label>
      <span>
        inputs
        <button type="button" data-testid="subflow-in-0" className={ins === 0 ? "on" : ""} onClick={() => editor.removeSubflowPort(sf.id, "in")}>0</button>
        <button type="button" data-testid="subflow-in-1" className={ins === 1 ? "on" : ""} onClick={() => editor.addSubflowPort(sf.id, "in")}>1</button>
      </span>
      <span>
        outputs
        <button type="button" data-testid="subflow-out-remove" title="remove the last output" onClick={() => editor.removeSubflowPort(sf.id, "out")} disabled={!outs}>−</button>
        <b data-testid="subflow-outputs">{outs}</b>
        <button type="button" data-testid="subflow-out-add" title="add an output" onClick={() => editor.addSubflowPort(sf.id, "out")}>+</button>
      </span>
      <span className="pw-subflow-uses">{uses} instance(s)</span>
      <span className="pw-spacer" />
      <button
        type="button"
        data-testid="subflow-delete"
        onClick={() => {
          if (confirm(`Delete the subflow “${String(sf.name)}”, its nodes and its ${uses} instance(s)?`)) editor.deleteSubflow(sf.id);
        }}
      >
        delete subflow
      </button>
    </div>
  );
}

export function App() {
  const ed = useEditor();
  const [phase, setPhase] = useState<"loading" | "login" | "ready" | "error">("loading");
  const [fatal, setFatal] = useState("");
  const [dialog, setDialog] = useState<null | "import" | "export">(null);
  const [deployMenu, setDeployMenu] = useState(false);
  const [deployError, setDeployError] = useState<{ message: string; problems: Problem[] } | null>(null);
  const [conflict, setConflict] = useState<DeployType | null>(null);
  const [confirmInvalid, setConfirmInvalid] = useState<DeployType | null>(null);
  const [renaming, setRenaming] = useState<string | null>(null);

  const start = useCallback(async () => {
    try {
      const defs = await api<NodeDef[]>("GET", "/nodes");
      editor.defs = new Map(defs.map((d) => [d.type, d]));
      await loadFlows();
      connectComms();
      setPhase("ready");
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) setPhase("login");
      else {
        setFatal((e as Error).message);
        setPhase("error");
      }
    }
  }, []);

  useEffect(() => {
    (async () => {
      try {
        const me = await api<{ auth: boolean; user: { name: string; role: string } | null; csrf: string | null }>("GET", "/auth/me");
        setCsrf(me.csrf);
        editor.user = me.user;
        if (me.auth && !me.user) setPhase("login");
        else await start();
      } catch (e) {
        setFatal((e as Error).message);
        setPhase("error");
      }
    })();
  }, [start]);

  const deploy = useCallback(async (type: DeployType, opts: { ignoreInvalid?: boolean; overwrite?: boolean } = {}) => {
    setDeployMenu(false);
    if (!opts.ignoreInvalid && editor.errors().size) {
      setConfirmInvalid(type);
      return;
    }
    const flows = structuredClone(editor.nodes);
    const body: Record<string, unknown> = { flows };
    if (!opts.overwrite) body.rev = editor.rev;
    deployInFlight = true;
    try {
      const res = await api<{ rev: string }>("POST", "/flows", body, { "Node-RED-API-Version": "v2", "Node-RED-Deployment-Type": type });
      editor.rev = res.rev;
      // credentials went to the server's encrypted store: never keep or resend them
      for (const list of [flows, editor.nodes]) for (const n of list) delete n.credentials;
      editor.deployed = new Map(flows.map((n) => [n.id, JSON.stringify(n)]));
      editor.serverProblems.clear();
      editor.notify("success", `Deployed (${DEPLOY_LABELS[type].toLowerCase()})`);
    } catch (e) {
      const err = e as ApiError;
      if (err.status === 409) setConflict(type);
      else if (err.status === 400 && err.code === "invalid_flow") {
        const problems = (Array.isArray(err.body.problems) ? err.body.problems : []) as Problem[];
        editor.serverProblems = new Map();
        for (const p of problems) editor.serverProblems.set(p.id, [...(editor.serverProblems.get(p.id) ?? []), p]);
        editor.emit();
        setDeployError({ message: err.message, problems });
      } else if (err.status === 401) setPhase("login");
      else editor.notify("error", `Deploy failed: ${err.message}`, 10000);
    } finally {
      setTimeout(() => {
        deployInFlight = false;
      }, 300);
    }
  }, []);

  const reload = useCallback(async () => {
    try {
      await loadFlows();
      editor.notify("info", "Flows reloaded from the server");
    } catch (e) {
      editor.notify("error", `Reload failed: ${(e as Error).message}`);
    }
  }, []);

  // Node-RED's keyboard shortcuts
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
      if (editor.editing || dialog) return;
      const ctrl = e.ctrlKey || e.metaKey;
      const k = e.key.toLowerCase();
      let handled = true;
      if (ctrl && !e.shiftKey && k === "c") editor.copy();
      else if (ctrl && e.shiftKey && k === "g") editor.groupSelection();
      else if (ctrl && e.shiftKey && k === "u") editor.ungroupSelection();
      else if (ctrl && k === "x") editor.cut();
      else if (ctrl && k === "v") editor.paste();
      else if (ctrl && k === "z" && !e.shiftKey) editor.undo();
      else if (ctrl && (k === "y" || (k === "z" && e.shiftKey))) editor.redo();
      else if (ctrl && k === "a") editor.selectAll();
      else if (ctrl && k === "d") void deploy(editor.deployType);
      else if (ctrl && k === "i") setDialog("import");
      else if (ctrl && k === "e") setDialog("export");
      else if (!ctrl && (k === "delete" || k === "backspace")) {
        const ids = new Set([...editor.selection].filter((id) => !id.includes(":") && !id.includes("|")));
        for (const id of [...editor.selection].filter((x) => x.startsWith("sfwire|"))) {
          const [, kind, index, node, port] = id.split("|");
          editor.disconnectPort(editor.activeTab, kind as "in" | "out", Number(index), node, Number(port));
        }
        const edges = [...editor.selection].filter((id) => id.includes(":") && !id.includes("|")).map((id) => {
          const [source, port, target] = id.split(":");
          return { source, port: Number(port), target };
        });
        editor.disconnect(edges);
        editor.deleteNodes(ids);
      } else if (!ctrl && k === "enter" && editor.selection.size === 1) {
        editor.editing = [...editor.selection][0];
        editor.emit();
      } else if (k === "escape") editor.select([]);
      else if (ctrl && e.altKey && k === "l") {
        editor.debug = [];
        editor.emit();
      } else if (ctrl && (k === "[" || k === "]")) {
        const tabs = editor.tabs();
        const i = tabs.findIndex((t) => t.id === editor.activeTab);
        const next = tabs[(i + (k === "]" ? 1 : tabs.length - 1)) % tabs.length];
        if (next) editor.setTab(next.id);
      } else if ((ctrl || e.shiftKey) && k.startsWith("arrow") && editor.selection.size) {
        const step = e.shiftKey ? 20 : 1;
        const dx = k === "arrowleft" ? -step : k === "arrowright" ? step : 0;
        const dy = k === "arrowup" ? -step : k === "arrowdown" ? step : 0;
        editor.snapshot();
        const pos = new Map<string, { x: number; y: number }>();
        for (const n of editor.selectedNodes()) if (typeof n.x === "number" && typeof n.y === "number") pos.set(n.id, { x: n.x + dx, y: n.y + dy });
        editor.moveNodes(pos);
      }
      else handled = false;
      if (handled) e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [deploy, dialog]);

  if (phase === "loading") return <div className="pw-splash">Plantwire: loading…</div>;
  if (phase === "error") return <div className="pw-splash error">Cannot start the editor: {fatal}</div>;
  if (phase === "login") return <LoginDialog onLoggedIn={() => void start()} />;

  const dirty = ed.dirty();
  const changed = ed.changedIds().length;
  const tabs = ed.tabs();
  return (
    <div className="pw-app">
      <header className="pw-header">
        <span className="pw-logo">Plantwire</span>
        <button type="button" className="pw-btn header" onClick={() => editor.undo()} disabled={!ed.canUndo()} title="Undo (Ctrl+Z)">
          ↶ undo
        </button>
        <button type="button" className="pw-btn header" onClick={() => editor.redo()} disabled={!ed.canRedo()} title="Redo (Ctrl+Y)">
          ↷ redo
        </button>
        <button type="button" className="pw-btn header" data-testid="open-import" onClick={() => setDialog("import")} title="Import (Ctrl+I)">
          Import
        </button>
        <button type="button" className="pw-btn header" data-testid="create-subflow" onClick={() => editor.createSubflow()} title="Put the selected nodes into a new subflow">
          Subflow
        </button>
        <button type="button" className="pw-btn header" data-testid="open-export" onClick={() => setDialog("export")} title="Export (Ctrl+E)">
          Export
        </button>
        <span className="pw-spacer" />
        <div className="pw-deploy">
          <button type="button" className={`pw-deploy-btn${dirty ? " dirty" : ""}`} data-testid="deploy" onClick={() => void deploy(ed.deployType)} title={`${DEPLOY_LABELS[ed.deployType]} deploy (Ctrl+D)`}>
            Deploy{ed.deployType !== "full" ? ` (${DEPLOY_LABELS[ed.deployType].toLowerCase()})` : ""}
            {changed > 0 && <span className="pw-deploy-count">{changed}</span>}
          </button>
          <button type="button" className="pw-deploy-menu-btn" data-testid="deploy-menu" onClick={() => setDeployMenu((x) => !x)}>
            ▾
          </button>
          {deployMenu && (
            <div className="pw-deploy-menu">
              {(Object.keys(DEPLOY_LABELS) as DeployType[]).map((t) => (
                <button
                  type="button"
                  key={t}
                  className={ed.deployType === t ? "active" : ""}
                  onClick={() => {
                    editor.deployType = t;
                    setDeployMenu(false);
                    editor.emit();
                  }}
                >
                  {ed.deployType === t ? "● " : "○ "}
                  {DEPLOY_LABELS[t]}
                  <small>{t === "full" ? "restart every node" : t === "flows" ? "restart the flows that changed" : "restart only the nodes that changed"}</small>
                </button>
              ))}
              <hr />
              <DeployChanges />
              <hr />
              <button type="button" onClick={() => { setDeployMenu(false); void reload(); }}>
                Reload flows from the server
              </button>
            </div>
          )}
        </div>
        {ed.user && (
          <span className="pw-user">
            {ed.user.name}
            <button
              type="button"
              className="pw-btn header"
              onClick={async () => {
                await api("POST", "/auth/logout").catch(() => null);
                location.reload();
              }}
            >
              log out
            </button>
          </span>
        )}
      </header>
      <div className="pw-main">
        <Palette />
        <div className="pw-workspace">
          <div className="pw-tabs" data-testid="tabs">
            {tabs.map((t) => (
              <div
                key={t.id}
                className={`pw-tab${t.id === ed.activeTab ? " active" : ""}${t.type === "subflow" ? " subflow" : ""}`}
                data-tab-id={t.id}
                onClick={() => editor.setTab(t.id)}
                onDoubleClick={() => setRenaming(t.id)}
              >
                {renaming === t.id ? (
                  <input
                    autoFocus
                    data-testid="tab-rename"
                    defaultValue={String((t.type === "subflow" ? t.name : t.label) ?? "")}
                    onBlur={(e) => {
                      const v = e.target.value;
                      editor.mutate(() => {
                        const n = editor.node(t.id);
                        if (n && n.type === "subflow") n.name = v;
                        else if (n) n.label = v;
                        editor.registerSubflows();
                      });
                      setRenaming(null);
                    }}
                    onKeyDown={(e) => e.key === "Enter" && (e.target as HTMLInputElement).blur()}
                  />
                ) : (
                  <span>{t.type === "subflow" ? `subflow: ${String(t.name ?? t.id)}` : String(t.label ?? t.id)}</span>
                )}
                {t.type === "tab" && tabs.filter((x) => x.type === "tab").length > 1 && (
                  <button
                    type="button"
                    className="pw-tab-x"
                    title="delete this flow"
                    onClick={(e) => {
                      e.stopPropagation();
                      if (confirm(`Delete the flow “${String(t.label)}” and its nodes?`)) editor.removeTab(t.id);
                    }}
                  >
                    ✕
                  </button>
                )}
              </div>
            ))}
            <button type="button" className="pw-tab-add" data-testid="add-tab" title="add a flow" onClick={() => editor.addTab()}>
              +
            </button>
          </div>
          {ed.node(ed.activeTab)?.type === "subflow" && <SubflowBar sf={ed.node(ed.activeTab)!} />}
          <ReactFlowProvider key={ed.activeTab}>
            <Canvas
              onEdit={(id) => {
                editor.editing = id;
                editor.emit();
              }}
            />
          </ReactFlowProvider>
        </div>
        <div className="pw-right">
          <Sidebar />
          {ed.editing && (
            <NodeForm
              key={ed.editing}
              id={ed.editing}
              onClose={() => {
                editor.editing = null;
                editor.emit();
              }}
            />
          )}
        </div>
      </div>
      <div className="pw-notices">
        {ed.notices.map((n) => (
          <div key={n.id} className={`pw-notice ${n.kind}`} data-testid="notice">
            {n.text}
            <button type="button" className="pw-notice-x" aria-label="dismiss" onClick={() => editor.dismiss(n.id)}>
              ✕
            </button>
          </div>
        ))}
      </div>
      {dialog === "import" && <ImportDialog onClose={() => setDialog(null)} />}
      {dialog === "export" && <ExportDialog onClose={() => setDialog(null)} />}
      {deployError && <DeployErrorDialog message={deployError.message} problems={deployError.problems} onClose={() => setDeployError(null)} />}
      {confirmInvalid && (
        <ConfirmDialog
          title="Deploy with problems?"
          testid="confirm-invalid"
          text={
            <div>
              <p>These nodes have invalid properties; the server will refuse them:</p>
              <ul className="pw-problems">
                {[...ed.errors().entries()].map(([id, errs]) => (
                  <li key={id}>
                    {ed.node(id)?.type} {String(ed.node(id)?.name || id)}: {Object.entries(errs).map(([f, m]) => `${f}: ${m}`).join("; ")}
                  </li>
                ))}
              </ul>
            </div>
          }
          buttons={[
            { label: "Cancel", onClick: () => setConfirmInvalid(null) },
            { label: "Deploy anyway", primary: true, testid: "deploy-anyway", onClick: () => { const t = confirmInvalid; setConfirmInvalid(null); void deploy(t, { ignoreInvalid: true }); } },
          ]}
        />
      )}
      {conflict && (
        <ConfirmDialog
          title="The flows changed on the server"
          testid="deploy-conflict"
          text={<p>Someone deployed other flows since you loaded yours (409: your revision is no longer the current one). Reload the server's flows (your undeployed changes are lost) or overwrite them with yours.</p>}
          buttons={[
            { label: "Cancel", onClick: () => setConflict(null) },
            { label: "Reload server flows", testid: "conflict-reload", onClick: () => { setConflict(null); void reload(); } },
            { label: "Overwrite", primary: true, testid: "conflict-overwrite", onClick: () => { const t = conflict; setConflict(null); void deploy(t, { ignoreInvalid: true, overwrite: true }); } },
          ]}
        />
      )}
    </div>
  );
}
