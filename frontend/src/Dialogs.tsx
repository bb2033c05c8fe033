/** Modal dialogs: import, export, login, deploy problems, stale flows (409). */
import { useRef, useState, type ReactNode } from "react";
import { api, ApiError, setCsrf } from "./api";
import { editor, isConfigNode } from "./store";
import type { Problem, RawNode } from "./types";

export function Modal({ title, children, onClose, testid }: { title: string; children: ReactNode; onClose?: () => void; testid?: string }) {
  return (
    <div className="pw-modal-back" onKeyDown={(e) => { if (e.key === "Escape" && onClose) onClose(); e.stopPropagation(); }}>
      <div className="pw-modal" role="dialog" aria-label={title} data-testid={testid}>
        <div className="pw-modal-head">
          <span>{title}</span>
          {onClose && (
            <button type="button" className="pw-modal-x" onClick={onClose} aria-label="close">
              ✕
            </button>
          )}
        </div>
        <div className="pw-modal-body">{children}</div>
      </div>
    </div>
  );
}

/** Parse a Node-RED flows.json text: an array of nodes, one node, or {flows: [...]}. */
export function parseFlows(text: string): RawNode[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`not valid JSON: ${(e as Error).message}`);
  }
  if (data && typeof data === "object" && !Array.isArray(data) && Array.isArray((data as { flows?: unknown }).flows)) data = (data as { flows: unknown }).flows;
  if (data && typeof data === "object" && !Array.isArray(data)) data = [data];
  if (!Array.isArray(data)) throw new Error("expected an array of node objects");
  data.forEach((n, i) => {
    if (!n || typeof n !== "object" || typeof (n as RawNode).id !== "string" || typeof (n as RawNode).type !== "string") {
      throw new Error(`item ${i} is not a node object (it needs string "id" and "type")`);
    }
  });
  return data as RawNode[];
}

export function ImportDialog({ onClose }: { onClose: () => void }) {
  const [text, setText] = useState("");
  const [err, setErr] = useState<string | null>(null);
  const file = useRef<HTMLInputElement>(null);
  const doImport = () => {
    try {
      const nodes = parseFlows(text);
      const out = editor.importNodes(nodes);
      editor.notify("success", `Imported ${out.length} node(s)`);
      onClose();
    } catch (e) {
      setErr((e as Error).message);
    }
  };
  return (
    <Modal title="Import nodes" onClose={onClose} testid="import-dialog">
      <p className="pw-hint">Paste a Node-RED flows.json (or nodes copied from Node-RED), or pick a file.</p>
      <textarea className="pw-import-text" data-testid="import-text" value={text} rows={14} onChange={(e) => { setText(e.target.value); setErr(null); }} placeholder="[ { &quot;id&quot;: ..., &quot;type&quot;: ... } ]" />
      {err && <div className="pw-field-error" data-testid="import-error">{err}</div>}
      <div className="pw-modal-buttons">
        <input ref={file} type="file" accept=".json,application/json" style={{ display: "none" }} onChange={async (e) => { const f = e.target.files?.[0]; if (f) setText(await f.text()); }} />
        <button type="button" className="pw-btn" onClick={() => file.current?.click()}>
          select a file…
        </button>
        <span className="pw-spacer" />
        <button type="button" className="pw-btn" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="pw-btn primary" data-testid="import-ok" onClick={doImport} disabled={!text.trim()}>
          Import
        </button>
      </div>
    </Modal>
  );
}

function withConfigs(nodes: RawNode[]): RawNode[] {
  const ids = new Set(nodes.map((n) => n.id));
  const configs = editor.configNodes().filter((c) => !ids.has(c.id) && nodes.some((n) => Object.values(n).includes(c.id)));
  return [...nodes, ...configs];
}

export function ExportDialog({ onClose }: { onClose: () => void }) {
  const [scope, setScope] = useState<"selected" | "flow" | "all">(editor.selection.size ? "selected" : "flow");
  const [pretty, setPretty] = useState(false);
  let nodes: RawNode[];
  if (scope === "all") nodes = editor.nodes;
  else if (scope === "flow") {
    const tab = editor.node(editor.activeTab);
    nodes = withConfigs([...(tab ? [tab] : []), ...editor.nodes.filter((n) => n.z === editor.activeTab)]);
  } else nodes = withConfigs(editor.selectedNodes().filter((n) => !isConfigNode(n)));
  const text = JSON.stringify(nodes, (k, v) => (k === "credentials" ? undefined : v), pretty ? 4 : undefined);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const ta = document.querySelector<HTMLTextAreaElement>("[data-testid=export-text]");
      ta?.select();
      document.execCommand("copy");
    }
    editor.notify("success", `${nodes.length} node(s) copied to the clipboard`);
    onClose();
  };
  const download = () => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    a.download = "flows.json";
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };
  return (
    <Modal title="Export nodes" onClose={onClose} testid="export-dialog">
      <div className="pw-radio-row">
        {(["selected", "flow", "all"] as const).map((s) => (
          <label key={s}>
            <input type="radio" checked={scope === s} onChange={() => setScope(s)} data-testid={`export-${s}`} /> {s === "selected" ? "selected nodes" : s === "flow" ? "current flow" : "all flows"}
          </label>
        ))}
        <span className="pw-spacer" />
        <label>
          <input type="checkbox" checked={pretty} onChange={(e) => setPretty(e.target.checked)} /> formatted
        </label>
      </div>
      <textarea className="pw-import-text" data-testid="export-text" readOnly value={text} rows={14} />
      <div className="pw-modal-buttons">
        <span className="pw-hint">{nodes.length} node(s)</span>
        <span className="pw-spacer" />
        <button type="button" className="pw-btn" onClick={download} data-testid="export-download">
          Download flows.json
        </button>
        <button type="button" className="pw-btn primary" onClick={copy} data-testid="export-copy">
          Copy to clipboard
        </button>
      </div>
    </Modal>
  );
}

export function LoginDialog({ onLoggedIn }: { onLoggedIn: () => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    try {
      const res = await api<{ csrf: string; user: { name: string; role: string } }>("POST", "/auth/login", { username, password });
      setCsrf(res.csrf);
      editor.user = res.user;
      onLoggedIn();
    } catch (x) {
      setErr((x as ApiError).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title="Log in to Plantwire" testid="login-dialog">
      <form onSubmit={submit} className="pw-login">
        <label>
          Username
          <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} autoFocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {err && <div className="pw-field-error" data-testid="login-error">{err}</div>}
        <div className="pw-modal-buttons">
          <span className="pw-spacer" />
          <button type="submit" className="pw-btn primary" disabled={busy || !username} data-testid="login-ok">
            Log in
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function DeployErrorDialog({ message, problems, onClose }: { message: string; problems: Problem[]; onClose: () => void }) {
  return (
    <Modal title="Deploy refused by the server" onClose={onClose} testid="deploy-error">
      <p>The server refused the flows (400); nothing was changed, the running flows go on as before.</p>
      {problems.length > 0 ? (
        <ul className="pw-problems">
          {problems.map((p, i) => {
            const n = editor.node(p.id);
            return (
              <li key={i}>
                <button type="button" className="pw-link" onClick={() => { if (n?.z) editor.setTab(n.z); editor.select([p.id]); onClose(); }}>
                  {p.type ?? n?.type ?? "node"} {n?.name ? `“${String(n.name)}”` : p.id}
                </button>
                {p.field ? <>, field <code>{p.field}</code></> : null}: {p.message}
              </li>
            );
          })}
        </ul>
      ) : (
        <pre className="pw-pre">{message}</pre>
      )}
      <div className="pw-modal-buttons">
        <span className="pw-spacer" />
        <button type="button" className="pw-btn primary" onClick={onClose}>
          Close
        </button>
      </div>
    </Modal>
  );
}

export function ConfirmDialog({ title, text, buttons, testid }: { title: string; text: ReactNode; buttons: { label: string; onClick: () => void; primary?: boolean; testid?: string }[]; testid?: string }) {
  return (
    <Modal title={title} testid={testid} onClose={buttons[0]?.onClick}>
      <div>{text}</div>
      <div className="pw-modal-buttons">
        <span className="pw-spacer" />
        {buttons.map((b) => (
          <button key={b.label} type="button" className={`pw-btn${b.primary ? " primary" : ""}`} onClick={b.onClick} data-testid={b.testid}>
            {b.label}
          </button>
        ))}
      </div>
    </Modal>
  );
}
