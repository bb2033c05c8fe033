/** The palette: node types grouped by category, with search; drag a type onto the canvas. */
import { useState } from "react";
import { useEditor } from "./store";
import type { NodeDef } from "./types";

const ORDER = ["subflows", "common", "function", "sequence", "parser", "network", "input", "output", "storage", "industrial", "modbus", "analytics", "social"];

export function Palette() {
  const ed = useEditor();
  const [q, setQ] = useState("");
  const [closed, setClosed] = useState<Set<string>>(new Set());
  const needle = q.trim().toLowerCase();
  const groups = new Map<string, NodeDef[]>();
  for (const d of ed.defs.values()) {
    if (d.config || d.type === "unknown") continue;
    if (needle && !d.type.toLowerCase().includes(needle) && !d.summary.toLowerCase().includes(needle)) continue;
    const list = groups.get(d.category) ?? [];
    list.push(d);
    groups.set(d.category, list);
  }
  const cats = [...groups.keys()].sort((a, b) => {
    const ia = ORDER.indexOf(a);
    const ib = ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  return (
    <div className="pw-palette" data-testid="palette">
      <input className="pw-palette-search" placeholder="filter nodes" value={q} onChange={(e) => setQ(e.target.value)} data-testid="palette-search" />
      <div className="pw-palette-list">
        {cats.map((c) => (
          <div key={c} className="pw-palette-cat" data-category={c}>
            <div
              className="pw-palette-cat-head"
              onClick={() =>
                setClosed((s) => {
                  const n = new Set(s);
                  if (n.has(c)) n.delete(c);
                  else n.add(c);
                  return n;
                })
              }
            >
              {closed.has(c) && !needle ? "▸" : "▾"} {c}
            </div>
            {(!closed.has(c) || needle) &&
              groups
                .get(c)!
                .sort((a, b) => a.type.localeCompare(b.type))
                .map((d) => (
                  <div
                    key={d.type}
                    className="pw-palette-node"
                    data-palette-type={d.type}
                    style={{ background: d.color }}
                    draggable
                    title={d.summary}
                    onDragStart={(e) => {
                      e.dataTransfer.setData("application/x-plantwire-node", d.type);
                      e.dataTransfer.effectAllowed = "copy";
                    }}
                  >
                    {d.inputs > 0 && <span className="pw-palette-port in" />}
                    <span className="pw-palette-label">{d.label ?? d.type}</span>
                    {d.outputs > 0 && <span className="pw-palette-port out" />}
                  </div>
                ))}
          </div>
        ))}
        {!cats.length && <div className="pw-empty">no node type matches “{q}”</div>}
      </div>
    </div>
  );
}
