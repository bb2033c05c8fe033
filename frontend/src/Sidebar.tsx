/** The sidebar: debug messages, runtime log, and information about the selection. */
import { useState } from "react";
import { editor, useEditor } from "./store";
import type { DebugMsg } from "./types";
import { Markdown } from "./Markdown";
import { nodeLabel } from "./Canvas";

function JsonTree({ value, label, open }: { value: unknown; label?: string; open?: boolean }) {
  if (value !== null && typeof value === "object") {
    const enc = value as Record<string, unknown>;
    if (enc.__enc__ === true) {
      return <JsonTree value={enc.data} label={`${label ? `${label}: ` : ""}${String(enc.type)}[${String(enc.length)}]`} open={open} />;
    }
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
    const summary = Array.isArray(value) ? `array[${value.length}]` : "object";
    return (
      <details className="pw-json-node" open={open}>
        <summary>
          {label && <span className="pw-json-key">{label}: </span>}
          <span className="pw-json-type">{summary}</span>
        </summary>
        <div className="pw-json-children">
          {entries.map(([k, v]) => (
            <JsonTree key={k} value={v} label={k} />
          ))}
        </div>
      </details>
    );
  }
  return (
    <div className="pw-json-leaf">
      {label && <span className="pw-json-key">{label}: </span>}
      <span className={`pw-json-${value === null ? "null" : typeof value}`}>{typeof value === "string" ? `"${value}"` : String(value)}</span>
    </div>
  );
}

function DebugValue({ m }: { m: DebugMsg }) {
  const f = m.format ?? "";
  if (f.startsWith("string")) return <span className="pw-json-string pw-debug-value">"{m.msg}"</span>;
  if (f === "Object" || f.startsWith("array") || f.startsWith("buffer")) {
    try {
      return <JsonTree value={JSON.parse(m.msg ?? "null")} open />;
    } catch {
      return <span className="pw-debug-value">{m.msg}</span>;
    }
  }
  return <span className={`pw-debug-value pw-json-${f}`}>{m.msg ?? f}</span>;
}

function DebugTab() {
  const ed = useEditor();
  const [filter, setFilter] = useState<"all" | "flow" | "selected">("all");
  const paused = ed.debugPaused;
  const shown = ed.debug.filter((m) => (filter === "flow" ? m.z === ed.activeTab : filter === "selected" ? ed.selection.has(m.id) : true));
  return (
    <div className="pw-debug" data-testid="debug-sidebar">
      <div className="pw-sidebar-tools">
        <select value={filter} onChange={(e) => setFilter(e.target.value as typeof filter)} data-testid="debug-filter">
          <option value="all">all nodes</option>
          <option value="flow">current flow</option>
          <option value="selected">selected nodes</option>
        </select>
        <button
          type="button"
          className={`pw-btn small${paused ? " active" : ""}`}
          data-testid="debug-pause"
          title="pause: the server stops sending debug messages (it counts them)"
          onClick={() => comms.send({ pause: !paused })}
        >
          {paused ? "resume" : "pause"}
        </button>
        <button type="button" className="pw-btn small" data-testid="debug-clear" onClick={() => { editor.debug = []; editor.emit(); }}>
          clear
        </button>
      </div>
      <div className="pw-debug-list">
        {shown.map((m) => (
          <div key={m.seq} className="pw-debug-msg" data-node={m.id}>
            <div className="pw-debug-meta">
              <span>{new Date(m.time).toLocaleTimeString()}</span>
              <button type="button" className="pw-link" onClick={() => { const n = editor.node(m.id); if (n?.z) editor.setTab(n.z); editor.select([m.id]); }}>
                node: {m.name || (editor.node(m.id) ? nodeLabel(editor.node(m.id)!, editor.defs.get("debug")) : m.id)}
              </button>
            </div>
            <div className="pw-debug-meta">
              {m.topic ? `${m.topic} : ` : ""}
              {m.property ? `msg.${m.property}` : "msg"} : {m.format}
            </div>
            <DebugValue m={m} />
          </div>
        ))}
        {!shown.length && <div className="pw-empty">{paused ? "paused" : "no debug messages"}</div>}
      </div>
    </div>
  );
}

function LogTab() {
  const ed = useEditor();
  return (
    <div className="pw-log" data-testid="log-sidebar">
      {ed.log.map((l) => (
        <div key={l.seq} className={`pw-log-line level-${l.level.toLowerCase()}`}>
          <span>{new Date(l.timestamp).toLocaleTimeString()}</span> <b>{l.level}</b> {l.name || l.type ? `[${l.type ?? ""}${l.name ? `:${l.name}` : ""}] ` : ""}
          {l.text}
        </div>
      ))}
      {!ed.log.length && <div className="pw-empty">no log lines yet</div>}
    </div>
  );
}

function InfoTab() {
  const ed = useEditor();
  const sel = ed.selectedNodes();
  if (sel.length !== 1) {
    const tab = ed.node(ed.activeTab);
    return (
      <div className="pw-info">
        <h3>{String(tab?.label ?? "")}</h3>
        <p>{ed.onTab(ed.activeTab).length} node(s) on this flow; {sel.length} selected.</p>
        <p className="pw-hint">Drag nodes from the palette, wire outputs to inputs, double-click a node to edit it, then Deploy (Ctrl+D).</p>
      </div>
    );
  }
  const n = sel[0];
  const def = ed.defs.get(n.type);
  return (
    <div className="pw-info">
      <table className="pw-info-table">
        <tbody>
          <tr><th>Node</th><td>{n.id}</td></tr>
          <tr><th>Type</th><td>{n.type}</td></tr>
          {n.name ? <tr><th>Name</th><td>{String(n.name)}</td></tr> : null}
        </tbody>
      </table>
      {def && <Markdown text={def.help} />}
    </div>
  );
}

/** The /comms WebSocket, shared with the debug tab's pause switch. */
export const comms = {
  ws: null as WebSocket | null,
  send(obj: unknown): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj));
  },
};

export function Sidebar() {
  const [tab, setTab] = useState<"debug" | "info" | "log">("debug");
  return (
    <div className="pw-sidebar">
      <div className="pw-sidebar-tabs">
        {(["info", "debug", "log"] as const).map((t) => (
          <button key={t} type="button" className={tab === t ? "active" : ""} data-testid={`sidebar-${t}`} onClick={() => setTab(t)}>
            {t}
          </button>
        ))}
      </div>
      {tab === "debug" ? <DebugTab /> : tab === "log" ? <LogTab /> : <InfoTab />}
    </div>
  );
}
