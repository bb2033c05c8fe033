/** Labels and sizes of nodes on the canvas (Node-RED's x, y are a node's centre). */
import type { NodeDef, RawNode } from "./types";
import { editor } from "./store";

export const NODE_H = 30;
export const PORT_GAP = 15;

export function nodeLabel(n: RawNode, def?: NodeDef): string {
  if (typeof n.name === "string" && n.name) return n.name;
  switch (n.type) {
    case "inject": {
      const props = Array.isArray(n.props) ? (n.props as Record<string, unknown>[]) : [];
      const pl = props.find((p) => p.p === "payload");
      const t = (pl?.vt ?? n.payloadType) as string | undefined;
      if (t === "date" || (!t && !pl)) return "timestamp";
      const v = String(pl && "v" in pl ? pl.v ?? "" : n.payload ?? "");
      if (["msg", "flow", "global", "env"].includes(String(t))) return `${String(t)}.${v}`;
      return v ? (v.length > 24 ? `${v.slice(0, 22)}…` : v) : "inject";
    }
    case "debug":
      return n.targetType === "full" || n.complete === "true" ? "msg" : `msg.${n.complete && n.complete !== "false" ? String(n.complete) : "payload"}`;
    case "change": {
      const rules = Array.isArray(n.rules) ? (n.rules as Record<string, unknown>[]) : [];
      if (rules.length === 1) return `${String(rules[0].t ?? "set")} ${String(rules[0].pt ?? "msg")}.${String(rules[0].p ?? "")}`;
      return rules.length ? `${rules.length} rules` : "change";
    }
    case "link in":
    case "link out":
      return n.type;
    default:
      if (n.type.startsWith("subflow:")) {
        const sf = editor.node(n.type.slice(8));
        return String(sf?.name ?? "subflow");
      }
      return def ? def.type : n.type;
  }
}

export function nodeSize(n: RawNode, def?: NodeDef): { w: number; h: number } {
  const label = nodeLabel(n, def);
  const w = Math.min(320, Math.max(100, Math.ceil((label.length * 7 + 50) / 10) * 10));
  const outs = Array.isArray(n.wires) ? n.wires.length : def?.outputs ?? 0;
  const h = Math.max(NODE_H, outs * PORT_GAP + 10);
  return { w, h };
}


/** The box around some nodes, with Node-RED's group padding. */
export function boundsOf(nodes: RawNode[], pad = 20): { x: number; y: number; w: number; h: number } | null {
  let x1 = Infinity;
  let y1 = Infinity;
  let x2 = -Infinity;
  let y2 = -Infinity;
  for (const n of nodes) {
    if (typeof n.x !== "number" || typeof n.y !== "number") continue;
    if (n.type === "group") {
      x1 = Math.min(x1, n.x);
      y1 = Math.min(y1, n.y);
      x2 = Math.max(x2, n.x + Number(n.w ?? 0));
      y2 = Math.max(y2, n.y + Number(n.h ?? 0));
      continue;
    }
    const { w, h } = nodeSize(n, editor.defs.get(n.type));
    x1 = Math.min(x1, n.x - w / 2);
    y1 = Math.min(y1, n.y - h / 2);
    x2 = Math.max(x2, n.x + w / 2);
    y2 = Math.max(y2, n.y + h / 2 + 12);
  }
  if (!Number.isFinite(x1)) return null;
  return { x: Math.round(x1 - pad), y: Math.round(y1 - pad), w: Math.round(x2 - x1 + 2 * pad), h: Math.round(y2 - y1 + 2 * pad) };
}
