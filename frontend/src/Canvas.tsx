/** The workspace: the nodes of the active tab on a React Flow canvas. */
import { memo, useCallback, useMemo, useRef, useState } from "react";
import {
  Background,
  Controls,
  Handle,
  MiniMap,
  Position,
  ReactFlow,
  SelectionMode,
  useReactFlow,
  type Connection,
  type Edge,
  type EdgeChange,
  type Node,
  type NodeChange,
  type NodeProps,
} from "@xyflow/react";
import { api, ApiError } from "./api";
import { editor, portsOf, useEditor } from "./store";
import type { NodeDef, RawNode, Status } from "./types";
import { newNode } from "./schema";
import { newId } from "./store";
import { nodeLabel, nodeSize, PORT_GAP } from "./geometry";

export { nodeLabel };


interface FlowNodeData extends Record<string, unknown> {
  raw: RawNode;
  def?: NodeDef;
  w: number;
  h: number;
  status?: Status;
  errors?: string[];
  changed: boolean;
}

const STATUS_COLORS: Record<string, string> = { red: "#c00", green: "#5a8", yellow: "#F9DF31", blue: "#53A3F3", grey: "#d3d3d3", gray: "#d3d3d3" };

async function pressInject(id: string): Promise<void> {
  if (editor.isChanged(id)) {
    editor.notify("error", "This inject node has undeployed changes: deploy first.");
    return;
  }
  try {
    await api("POST", `/inject/${encodeURIComponent(id)}`);
    editor.notify("success", `Injected: ${nodeLabel(editor.node(id)!, editor.defs.get("inject"))}`, 2000);
  } catch (e) {
    editor.notify("error", `Inject failed: ${(e as ApiError).message}`);
  }
}

const FlowNode = memo(function FlowNode({ id, data, selected }: NodeProps<Node<FlowNodeData>>) {
  const { raw, def, w, h, status, errors, changed } = data;
  const inputs = def ? def.inputs : raw.type === "link out" || raw.type === "debug" ? 1 : 0;
  const outputs = Array.isArray(raw.wires) ? raw.wires.length : def?.outputs ?? 0;
  const color = def?.color ?? "#ddd";
  const label = nodeLabel(raw, def);
  return (
    <div
      className={`pw-node${selected ? " selected" : ""}${raw.d ? " disabled" : ""}${def ? "" : " unknown"}`}
      style={{ width: w, height: h, background: color }}
      data-node-id={id}
      data-node-type={raw.type}
      title={def?.summary ?? raw.type}
    >
      {raw.type === "inject" && (
        <button
          className="pw-inject-btn nodrag"
          data-testid={`inject-${id}`}
          title="Inject now"
          onClick={(e) => {
            e.stopPropagation();
            void pressInject(id);
          }}
        />
      )}
      {inputs > 0 && <Handle type="target" position={Position.Left} id="i" className="pw-port" />}
      <div className="pw-node-icon">{(def?.type ?? raw.type).charAt(0).toUpperCase()}</div>
      <div className="pw-node-label">{label}</div>
      {Array.from({ length: outputs }, (_, i) => (
        <Handle
          key={i}
          type="source"
          position={Position.Right}
          id={`o${i}`}
          className="pw-port"
          style={{ top: outputs === 1 ? h / 2 : 5 + PORT_GAP * i + PORT_GAP / 2 }}
        />
      ))}
      {raw.type === "link out" && <Handle type="source" position={Position.Right} id="link" className="pw-link-port" isConnectable={false} />}
      {raw.type === "link in" && <Handle type="target" position={Position.Left} id="link" className="pw-link-port" isConnectable={false} />}
      {changed && <div className="pw-changed" title="changed since the last deploy" />}
      {errors && errors.length > 0 && (
        <div className="pw-badge-error" data-testid={`badge-${id}`} title={errors.join("\n")}>
          !
        </div>
      )}
      {status && (status.text || status.fill) && (
        <div className="pw-status" data-testid={`status-${id}`}>
          {status.fill && (
            <span
              className={`pw-status-dot ${status.shape === "ring" ? "ring" : "dot"}`}
              style={{ borderColor: STATUS_COLORS[status.fill] ?? status.fill, background: status.shape === "ring" ? "#fff" : STATUS_COLORS[status.fill] ?? status.fill }}
            />
          )}
          <span>{status.text}</span>
        </div>
      )}
    </div>
  );
});

const GroupNode = memo(function GroupNode({ id, data, selected }: NodeProps<Node<FlowNodeData>>) {
  const style = (data.raw.style ?? {}) as Record<string, string>;
  return (
    <div
      className={`pw-group${selected ? " selected" : ""}`}
      data-group-id={id}
      style={{ width: data.w, height: data.h, borderColor: style.stroke ?? "#999", background: style.fill && style.fill !== "none" ? `${style.fill}55` : "transparent" }}
    >
      <span className="pw-group-label">{String(data.raw.name ?? "")}</span>
    </div>
  );
});

/** A subflow's input or output port, drawn on the subflow's own tab. */
const PortNode = memo(function PortNode({ data, selected }: NodeProps<Node<FlowNodeData>>) {
  const kind = data.raw.type === "subflow-in" ? "in" : "out";
  return (
    <div className={`pw-port-node ${kind}${selected ? " selected" : ""}`} data-port-node={`${kind}${String(data.raw.index)}`} style={{ width: data.w, height: data.h }}>
      {kind === "out" && <Handle type="target" position={Position.Left} id="i" className="pw-port" />}
      <span>{kind === "in" ? "input" : `output ${Number(data.raw.index) + 1}`}</span>
      {kind === "in" && <Handle type="source" position={Position.Right} id="o0" className="pw-port" />}
    </div>
  );
});

const nodeTypes = { pw: FlowNode, pwgroup: GroupNode, pwport: PortNode };

const PORT_W = 70;
const PORT_H = 30;

/** "in:<i>" / "out:<i>" of a port node's id ("sfport|in|0"), or null. */
function portOf(id: string): { kind: "in" | "out"; index: number } | null {
  const m = /^sfport\|(in|out)\|(\d+)$/.exec(id);
  return m ? { kind: m[1] as "in" | "out", index: Number(m[2]) } : null;
}

export function Canvas({ onEdit }: { onEdit: (id: string) => void }) {
  const ed = useEditor();
  const rf = useReactFlow();
  const wrapper = useRef<HTMLDivElement>(null);
  const [measured, setMeasured] = useState<Map<string, { width: number; height: number }>>(new Map());
  const tab = ed.node(ed.activeTab);
  const readOnly = false;
  const errors = ed.errors();

  const onTab = ed.onTab(ed.activeTab);
  const rfNodes: Node<FlowNodeData>[] = useMemo(() => {
    const out: Node<FlowNodeData>[] = [];
    for (const n of onTab) {
      const def = ed.defs.get(n.type);
      if (n.type === "group") {
        const w = Number(n.w ?? 200);
        const h = Number(n.h ?? 100);
        out.push({
          id: n.id,
          type: "pwgroup",
          position: { x: Number(n.x ?? 0), y: Number(n.y ?? 0) },
          data: { raw: n, def, w, h, changed: ed.isChanged(n.id) },
          selected: ed.selection.has(n.id),
          zIndex: -1,
          width: w,
          height: h,
          measured: measured.get(n.id),
        });
        continue;
      }
      if (typeof n.x !== "number" || typeof n.y !== "number") continue;
      const { w, h } = nodeSize(n, def);
      const errs = [
        ...Object.entries(errors.get(n.id) ?? {}).map(([f, m]) => `${f}: ${m}`),
        ...(ed.serverProblems.get(n.id) ?? []).map((p) => `${p.field ?? ""}${p.field ? ": " : ""}${p.message} (server)`),
      ];
      out.push({
        id: n.id,
        type: "pw",
        position: { x: n.x - w / 2, y: n.y - h / 2 },
        data: { raw: n, def, w, h, status: ed.status.get(n.id), errors: errs, changed: ed.isChanged(n.id) },
        selected: ed.selection.has(n.id),
        measured: measured.get(n.id),
        width: w,
        height: h,
      });
    }
    if (tab?.type === "subflow") {
      for (const kind of ["in", "out"] as const) {
        portsOf(tab, kind).forEach((p, index) => {
          const id = `sfport|${kind}|${index}`;
          out.push({
            id,
            type: "pwport",
            position: { x: p.x - PORT_W / 2, y: p.y - PORT_H / 2 },
            data: { raw: { id, type: `subflow-${kind}`, index }, w: PORT_W, h: PORT_H, changed: false },
            selected: ed.selection.has(id),
            width: PORT_W,
            height: PORT_H,
            measured: measured.get(id),
          });
        });
      }
    }
    return out;
    // the editor's version changes whenever anything above does
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ed.getVersion(), measured]);

  const rfEdges: Edge[] = useMemo(() => {
    const ids = new Set(onTab.map((n) => n.id));
    const out: Edge[] = [];
    for (const n of onTab) {
      (n.wires ?? []).forEach((port, i) => {
        for (const t of port ?? []) {
          if (!ids.has(t)) continue;
          out.push({ id: `${n.id}:${i}:${t}`, source: n.id, sourceHandle: `o${i}`, target: t, targetHandle: "i", selected: ed.selection.has(`${n.id}:${i}:${t}`) });
        }
      });
      if (n.type === "link out" && Array.isArray(n.links)) {
        for (const t of n.links as string[]) {
          if (!ids.has(t)) continue;
          out.push({ id: `link:${n.id}:${t}`, source: n.id, sourceHandle: "link", target: t, targetHandle: "link", className: "pw-link-edge", selectable: false, deletable: false, style: { strokeDasharray: "5 5" } });
        }
      }
    }
    if (tab?.type === "subflow") {
      portsOf(tab, "in").forEach((p, i) => {
        for (const w of p.wires) if (ids.has(w.id)) out.push({ id: `sfwire|in|${i}|${w.id}|0`, source: `sfport|in|${i}`, sourceHandle: "o0", target: w.id, targetHandle: "i", selected: ed.selection.has(`sfwire|in|${i}|${w.id}|0`) });
      });
      portsOf(tab, "out").forEach((p, i) => {
        for (const w of p.wires) {
          const eid = `sfwire|out|${i}|${w.id}|${w.port ?? 0}`;
          if (ids.has(w.id)) out.push({ id: eid, source: w.id, sourceHandle: `o${w.port ?? 0}`, target: `sfport|out|${i}`, targetHandle: "i", selected: ed.selection.has(eid) });
        }
      });
    }
    return out;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ed.getVersion()]);

  const onNodesChange = useCallback((changes: NodeChange<Node<FlowNodeData>>[]) => {
    const pos = new Map<string, { x: number; y: number }>();
    let sel: Set<string> | null = null;
    let dims: Map<string, { width: number; height: number }> | null = null;
    for (const c of changes) {
      if (c.type === "position" && c.position) {
        const port = portOf(c.id);
        if (port) {
          editor.movePort(editor.activeTab, port.kind, port.index, c.position.x + PORT_W / 2, c.position.y + PORT_H / 2);
          continue;
        }
        const n = editor.node(c.id);
        if (!n) continue;
        if (n.type === "group") {
          pos.set(c.id, { x: c.position.x, y: c.position.y });
          continue;
        }
        const { w, h } = nodeSize(n, editor.defs.get(n.type));
        pos.set(c.id, { x: c.position.x + w / 2, y: c.position.y + h / 2 });
      } else if (c.type === "select") {
        sel = sel ?? new Set(editor.selection);
        if (c.selected) sel.add(c.id);
        else sel.delete(c.id);
      } else if (c.type === "dimensions" && c.dimensions) {
        dims = dims ?? new Map();
        dims.set(c.id, c.dimensions);
      }
    }
    if (pos.size) editor.moveNodes(pos);
    if (sel) editor.select(sel);
    if (dims) {
      const d = dims;
      setMeasured((m) => {
        const next = new Map(m);
        for (const [k, v] of d) next.set(k, v);
        return next;
      });
    }
  }, []);

  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    let sel: Set<string> | null = null;
    for (const c of changes) {
      if (c.type === "select") {
        sel = sel ?? new Set(editor.selection);
        if (c.selected) sel.add(c.id);
        else sel.delete(c.id);
      }
    }
    if (sel) editor.select(sel);
  }, []);

  const onConnect = useCallback((c: Connection) => {
    if (!c.source || !c.target) return;
    const from = portOf(c.source);
    const to = portOf(c.target);
    if (from) return editor.connectPort(editor.activeTab, "in", from.index, c.target);
    if (to) return editor.connectPort(editor.activeTab, "out", to.index, c.source, Number((c.sourceHandle ?? "o0").slice(1)));
    editor.connect(c.source, Number((c.sourceHandle ?? "o0").slice(1)), c.target);
  }, []);

  const onDrop = useCallback(
    (e: React.DragEvent) => {
      e.preventDefault();
      const type = e.dataTransfer.getData("application/x-plantwire-node");
      const def = editor.defs.get(type);
      if (!def) return;
      const p = rf.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      const n = newNode(def, newId(), editor.activeTab, Math.round(p.x / 10) * 10, Math.round(p.y / 10) * 10);
      editor.addNode(n);
    },
    [rf],
  );

  return (
    <div className="pw-canvas" ref={wrapper} data-testid="canvas" data-tab={tab?.id}>
      <ReactFlow
        nodes={rfNodes}
        edges={rfEdges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onConnect}
        onNodeDragStart={() => editor.snapshot()}
        onNodeDoubleClick={(_, n) => {
          if (n.type === "pw") onEdit(n.id);
          else if (n.type === "pwgroup") {
            const g = editor.node(n.id);
            const name = prompt("Group name", String(g?.name ?? ""));
            if (g && name !== null) editor.mutate(() => { g.name = name; });
          }
        }}
        onPaneClick={() => editor.select([])}
        onDrop={onDrop}
        onDragOver={(e) => {
          e.preventDefault();
          e.dataTransfer.dropEffect = "copy";
        }}
        deleteKeyCode={null}
        selectionKeyCode={null}
        multiSelectionKeyCode={["Control", "Meta", "Shift"]}
        selectionOnDrag
        selectionMode={SelectionMode.Full}
        elevateNodesOnSelect={false}
        panOnDrag={[1, 2]}
        panOnScroll
        zoomActivationKeyCode={["Control", "Meta"]}
        nodesDraggable={!readOnly}
        minZoom={0.2}
        maxZoom={2}
        snapToGrid
        snapGrid={[10, 10]}
        defaultViewport={{ x: 0, y: 0, zoom: 1 }}
        proOptions={{ hideAttribution: true }}
        defaultEdgeOptions={{ type: "default" }}
        connectionRadius={25}
      >
        <Background gap={20} />
        <Controls showInteractive={false} />
        <MiniMap pannable zoomable style={{ width: 140, height: 90 }} />
      </ReactFlow>
    </div>
  );
}
