/** The editor's state: the flows being edited, selection, undo history, deploy state. */
import { useSyncExternalStore } from "react";
import type { DebugMsg, LogLine, NodeDef, Problem, RawNode, Status } from "./types";
import { validateNode } from "./schema";
import { boundsOf } from "./geometry";

export function newId(): string {
  const b = new Uint8Array(8);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export interface Notice {
  id: number;
  kind: "info" | "error" | "success";
  text: string;
}

export type DeployType = "full" | "flows" | "nodes";

const STRUCTURAL = new Set(["tab", "subflow", "group"]);

export function isConfigNode(n: RawNode): boolean {
  return !("wires" in n) && !STRUCTURAL.has(n.type) && !n.type.startsWith("subflow:") && n.x === undefined;
}

export interface SubflowPort {
  x: number;
  y: number;
  wires: { id: string; port?: number }[];
}

/** A subflow's input ("in", 0 or 1) or output ("out") ports as Node-RED writes them. */
export function portsOf(sf: RawNode, kind: "in" | "out"): SubflowPort[] {
  const list = sf[kind];
  return Array.isArray(list) ? (list as SubflowPort[]).map((p) => { p.wires = Array.isArray(p.wires) ? p.wires : []; return p; }) : [];
}

class Editor {
  nodes: RawNode[] = [];
  defs: Map<string, NodeDef> = new Map();
  activeTab = "";
  selection: Set<string> = new Set();
  deployed: Map<string, string> = new Map();
  rev: string | null = null;
  status: Map<string, Status> = new Map();
  serverProblems: Map<string, Problem[]> = new Map();
  debug: DebugMsg[] = [];
  log: LogLine[] = [];
  notices: Notice[] = [];
  deployType: DeployType = "full";
  debugPaused = false;
  editing: string | null = null;
  clipboard: RawNode[] = [];
  user: { name: string; role: string } | null = null;
  private undoStack: RawNode[][] = [];
  private redoStack: RawNode[][] = [];
  private listeners = new Set<() => void>();
  private version = 0;
  private seq = 0;
  private errorCache: { version: number; map: Map<string, Record<string, string>> } | null = null;

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };
  getVersion = (): number => this.version;

  emit(): void {
    this.version++;
    for (const fn of this.listeners) fn();
  }

  // ----- queries -------------------------------------------------------------------------

  node(id: string): RawNode | undefined {
    return this.nodes.find((n) => n.id === id);
  }
  tabs(): RawNode[] {
    return this.nodes.filter((n) => n.type === "tab" || n.type === "subflow");
  }
  onTab(z: string): RawNode[] {
    return this.nodes.filter((n) => n.z === z && !isConfigNode(n));
  }
  configNodes(): RawNode[] {
    return this.nodes.filter(isConfigNode);
  }
  /** Client-side validation problems of every node: id -> field -> message. */
  errors(): Map<string, Record<string, string>> {
    if (this.errorCache && this.errorCache.version === this.version) return this.errorCache.map;
    const map = new Map<string, Record<string, string>>();
    for (const n of this.nodes) {
      if (STRUCTURAL.has(n.type)) continue;
      const e = validateNode(n, this.defs.get(n.type));
      if (Object.keys(e).length) map.set(n.id, e);
    }
    this.errorCache = { version: this.version, map };
    return map;
  }
  changedIds(): string[] {
    const now = new Set(this.nodes.map((n) => n.id));
    const changed = this.nodes.filter((n) => this.deployed.get(n.id) !== JSON.stringify(n)).map((n) => n.id);
    for (const id of this.deployed.keys()) if (!now.has(id)) changed.push(id);
    return changed;
  }
  isChanged(id: string): boolean {
    const n = this.node(id);
    return !n || this.deployed.get(id) !== JSON.stringify(n);
  }
  dirty(): boolean {
    return this.changedIds().length > 0;
  }

  // ----- loading ----------------------------------------------------------------------------

  load(flows: RawNode[], rev: string | null): void {
    this.nodes = structuredClone(flows);
    this.rev = rev;
    this.markDeployed();
    this.undoStack = [];
    this.redoStack = [];
    this.selection.clear();
    this.serverProblems.clear();
    if (!this.tabs().some((t) => t.type === "tab")) {
      this.nodes.unshift({ id: newId(), type: "tab", label: "Flow 1", disabled: false, info: "" });
    }
    if (!this.node(this.activeTab)) this.activeTab = this.tabs()[0].id;
    this.registerSubflows();
    this.emit();
  }
  /** Node types for the instances of each subflow definition (and none for removed ones). */
  registerSubflows(): void {
    const present = new Set(this.nodes.filter((n) => n.type === "subflow").map((n) => `subflow:${n.id}`));
    for (const k of [...this.defs.keys()]) if (k.startsWith("subflow:") && !present.has(k)) this.defs.delete(k);
    for (const sf of this.nodes.filter((n) => n.type === "subflow")) {
      this.defs.set(`subflow:${sf.id}`, {
        type: `subflow:${sf.id}`,
        category: "subflows",
        inputs: Array.isArray(sf.in) ? sf.in.length : 0,
        outputs: Array.isArray(sf.out) ? sf.out.length : 0,
        color: String(sf.color ?? "#DDAA99"),
        icon: "subflow.svg",
        config: false,
        summary: `subflow ${String(sf.name ?? sf.id)}`,
        label: String(sf.name ?? sf.id),
        help: String(sf.info ?? ""),
        module: "subflow",
        schema: { type: "object", properties: {} },
      });
    }
  }
  markDeployed(): void {
    this.deployed = new Map(this.nodes.map((n) => [n.id, JSON.stringify(n)]));
  }

  // ----- changes (undoable) ----------------------------------------------------------------

  /** Record the current flows for undo, then apply `fn`. */
  mutate(fn: () => void): void {
    this.snapshot();
    fn();
    this.emit();
  }
  snapshot(): void {
    this.undoStack.push(structuredClone(this.nodes));
    if (this.undoStack.length > 200) this.undoStack.shift();
    this.redoStack = [];
  }
  undo(): void {
    const prev = this.undoStack.pop();
    if (!prev) return;
    this.redoStack.push(this.nodes);
    this.nodes = prev;
    this.afterHistory();
  }
  redo(): void {
    const next = this.redoStack.pop();
    if (!next) return;
    this.undoStack.push(this.nodes);
    this.nodes = next;
    this.afterHistory();
  }
  canUndo(): boolean {
    return this.undoStack.length > 0;
  }
  canRedo(): boolean {
    return this.redoStack.length > 0;
  }
  private afterHistory(): void {
    const ids = new Set(this.nodes.map((n) => n.id));
    this.selection = new Set([...this.selection].filter((id) => ids.has(id)));
    if (!ids.has(this.activeTab)) this.activeTab = this.tabs()[0]?.id ?? "";
    this.registerSubflows();
    this.emit();
  }

  addNode(n: RawNode): void {
    this.mutate(() => {
      this.nodes.push(n);
      this.selection = new Set([n.id]);
    });
  }
  updateNode(id: string, values: RawNode): void {
    this.mutate(() => {
      const i = this.nodes.findIndex((n) => n.id === id);
      if (i >= 0) {
        const outputs = Array.isArray(values.wires) ? values.wires.length : 0;
        this.nodes[i] = values;
        // a node with fewer outputs loses the wires of the removed ones
        if (outputs && Array.isArray(values.wires)) this.nodes[i].wires = values.wires.slice(0, outputs);
      }
      this.serverProblems.delete(id);
    });
  }
  /** Move nodes (no undo entry: the drag's start recorded one). A moved group takes its
   * nodes along; a group whose nodes moved is fitted around them again. */
  moveNodes(pos: Map<string, { x: number; y: number }>): void {
    const moved = new Set<string>();
    const shift = (id: string, dx: number, dy: number) => {
      for (const m of this.nodes) {
        if (m.g !== id || pos.has(m.id) || typeof m.x !== "number" || typeof m.y !== "number") continue;
        m.x += dx;
        m.y += dy;
        if (m.type === "group") shift(m.id, dx, dy);
      }
    };
    for (const n of this.nodes) {
      const p = pos.get(n.id);
      if (!p) continue;
      const x = Math.round(p.x);
      const y = Math.round(p.y);
      if (n.type === "group" && typeof n.x === "number" && typeof n.y === "number") shift(n.id, x - n.x, y - n.y);
      n.x = x;
      n.y = y;
      moved.add(n.id);
    }
    for (const n of this.nodes) if (moved.has(n.id) && n.g && !pos.has(n.g)) this.fitGroup(n.g);
    this.emit();
  }
  fitGroup(id: string): void {
    const g = this.node(id);
    if (!g) return;
    const b = boundsOf(this.nodes.filter((n) => n.g === id));
    if (!b) return;
    Object.assign(g, b);
    if (g.g) this.fitGroup(g.g);
  }
  /** Node-RED's "group selection" (Ctrl+Shift+G). */
  groupSelection(): void {
    const chosen = this.selectedNodes().filter((n) => n.z === this.activeTab && !isConfigNode(n));
    const ids = new Set(chosen.map((n) => n.id));
    const members = chosen.filter((n) => !n.g || !ids.has(n.g)); // a selected group keeps its nodes
    if (!members.length) return;
    const id = newId();
    this.mutate(() => {
      const outer = members.every((n) => n.g === members[0].g) ? members[0].g : undefined;
      const group: RawNode = { id, type: "group", z: this.activeTab, name: "", style: { label: true }, nodes: members.map((n) => n.id), ...boundsOf(members) };
      if (outer) group.g = outer;
      for (const n of members) n.g = id;
      const first = this.nodes.findIndex((n) => n.id === members[0].id);
      this.nodes.splice(first, 0, group);
      this.syncGroupLists();
      this.selection = new Set([id]);
    });
  }
  /** Node-RED's "ungroup selection" (Ctrl+Shift+U). */
  ungroupSelection(): void {
    const groups = this.selectedNodes().filter((n) => n.type === "group");
    if (!groups.length) return;
    this.mutate(() => {
      const ids = new Set(groups.map((g) => g.id));
      for (const n of this.nodes) if (n.g && ids.has(n.g)) {
        const parent = this.node(n.g)?.g;
        if (parent) n.g = parent;
        else delete n.g;
      }
      this.nodes = this.nodes.filter((n) => !ids.has(n.id));
      this.syncGroupLists();
      this.selection = new Set();
    });
  }
  /** Keep each group's `nodes` list in step with its members' `g`. */
  syncGroupLists(): void {
    for (const g of this.nodes.filter((n) => n.type === "group")) g.nodes = this.nodes.filter((n) => n.g === g.id).map((n) => n.id);
  }
  deleteNodes(ids: Set<string>): void {
    if (!ids.size) return;
    this.mutate(() => {
      this.nodes = this.nodes.filter((n) => !ids.has(n.id));
      for (const n of this.nodes) {
        if (Array.isArray(n.wires)) n.wires = n.wires.map((port) => port.filter((t) => !ids.has(t)));
        if (n.g && ids.has(n.g)) delete n.g;
        if (Array.isArray(n.links)) n.links = (n.links as string[]).filter((t) => !ids.has(t));
      }
      for (const sf of this.nodes.filter((n) => n.type === "subflow")) {
        for (const port of [...portsOf(sf, "in"), ...portsOf(sf, "out")]) port.wires = port.wires.filter((w) => !ids.has(w.id));
      }
      for (const id of ids) this.selection.delete(id);
      if (this.nodes.some((n) => n.type === "group")) this.syncGroupLists();
      this.registerSubflows();
    });
  }
  connect(source: string, port: number, target: string): void {
    const src = this.node(source);
    if (!src || source === target) return;
    const wires = src.wires ?? [];
    if (wires[port]?.includes(target)) return;
    this.mutate(() => {
      const s = this.node(source)!;
      const w = (s.wires ?? []).map((p) => [...p]);
      while (w.length <= port) w.push([]);
      w[port].push(target);
      s.wires = w;
    });
  }
  disconnect(edges: { source: string; port: number; target: string }[]): void {
    if (!edges.length) return;
    this.mutate(() => {
      for (const e of edges) {
        const s = this.node(e.source);
        if (s?.wires?.[e.port]) s.wires[e.port] = s.wires[e.port].filter((t) => t !== e.target);
      }
    });
  }

  // ----- subflows ------------------------------------------------------------------------------

  /** Node-RED's "selection to subflow": the selected nodes of the current flow move into a
   * new subflow definition, replaced by one instance of it. Wires coming in end at the
   * subflow's input; each node output wired out of the selection becomes an output. */
  createSubflow(): string | null {
    const tab = this.node(this.activeTab);
    if (!tab || tab.type !== "tab") {
      this.notify("error", "Subflows are made from nodes of a flow tab.");
      return null;
    }
    const chosen = this.selectedNodes().filter((n) => n.z === tab.id && !isConfigNode(n) && n.type !== "group" && typeof n.x === "number");
    if (!chosen.length) {
      this.notify("error", "Select the nodes to put into the subflow first.");
      return null;
    }
    const ids = new Set(chosen.map((n) => n.id));
    const sfId = newId();
    const instId = newId();
    const b = boundsOf(chosen, 0)!;
    const inner = new Set<string>(); // targets of wires coming in
    const outKeys: string[] = []; // "node port" pairs wired out of the selection, in order
    const outTargets = new Map<string, string[]>();
    for (const n of this.onTab(tab.id)) {
      (n.wires ?? []).forEach((port, p) => {
        for (const t of port ?? []) {
          if (!ids.has(n.id) && ids.has(t)) inner.add(t);
          if (ids.has(n.id) && !ids.has(t)) {
            const key = `${n.id} ${p}`;
            if (!outTargets.has(key)) {
              outKeys.push(key);
              outTargets.set(key, []);
            }
            outTargets.get(key)!.push(t);
          }
        }
      });
    }
    const dx = 220 - b.x;
    const dy = 60 - b.y;
    const count = this.nodes.filter((n) => n.type === "subflow").length + 1;
    const sf: RawNode = {
      id: sfId,
      type: "subflow",
      name: `Subflow ${count}`,
      info: "",
      category: "",
      in: inner.size ? [{ x: 80, y: 60 + b.h / 2, wires: [...inner].map((id) => ({ id })) }] : [],
      out: outKeys.map((key, i) => {
        const [id, port] = key.split(" ");
        return { x: b.x + b.w + dx + 120, y: 60 + i * 50, wires: [{ id, port: Number(port) }] };
      }),
      env: [],
      meta: {},
      color: "#DDAA99",
    };
    const inst: RawNode = {
      id: instId,
      type: `subflow:${sfId}`,
      z: tab.id,
      name: "",
      x: Math.round((b.x + b.w / 2) / 10) * 10,
      y: Math.round((b.y + b.h / 2) / 10) * 10,
      wires: outKeys.map((k) => [...new Set(outTargets.get(k))]),
    };
    this.mutate(() => {
      for (const n of this.nodes) {
        if (ids.has(n.id)) {
          n.z = sfId;
          n.x = Number(n.x) + dx;
          n.y = Number(n.y) + dy;
          delete n.g;
          if (Array.isArray(n.wires)) n.wires = n.wires.map((port) => (port ?? []).filter((t) => ids.has(t)));
        } else if (n.z === tab.id && Array.isArray(n.wires)) {
          n.wires = n.wires.map((port) => {
            const kept = (port ?? []).filter((t) => !ids.has(t));
            return kept.length < (port ?? []).length && !kept.includes(instId) ? [...kept, instId] : kept;
          });
        }
      }
      const firstFlow = this.nodes.findIndex((n) => n.type !== "subflow" && n.type !== "tab");
      this.nodes.splice(firstFlow < 0 ? this.nodes.length : firstFlow, 0, sf);
      this.nodes.push(inst);
      this.syncGroupLists();
      this.registerSubflows();
      this.selection = new Set([instId]);
    });
    this.notify("success", `${String(sf.name)} created from ${chosen.length} node(s)`);
    return sfId;
  }
  /** Add an input (at most one, as in Node-RED) or an output to a subflow. */
  addSubflowPort(sfId: string, kind: "in" | "out"): void {
    const sf = this.node(sfId);
    if (!sf || (kind === "in" && portsOf(sf, "in").length)) return;
    this.mutate(() => {
      const ports = portsOf(sf, kind);
      sf[kind] = [...ports, { x: kind === "in" ? 60 : 500, y: 60 + ports.length * 50, wires: [] }];
      if (kind === "out") for (const n of this.instancesOf(sfId)) n.wires = [...(n.wires ?? []), []];
      this.registerSubflows();
    });
  }
  /** Remove the input or the last output of a subflow (instances lose that output's wires). */
  removeSubflowPort(sfId: string, kind: "in" | "out"): void {
    const sf = this.node(sfId);
    if (!sf || !portsOf(sf, kind).length) return;
    this.mutate(() => {
      sf[kind] = portsOf(sf, kind).slice(0, -1);
      if (kind === "out") for (const n of this.instancesOf(sfId)) n.wires = (n.wires ?? []).slice(0, portsOf(sf, "out").length);
      if (kind === "in") {
        for (const n of this.nodes) {
          if (Array.isArray(n.wires)) n.wires = n.wires.map((p) => (p ?? []).filter((t) => this.node(t)?.type !== `subflow:${sfId}`));
        }
      }
      this.registerSubflows();
    });
  }
  /** Wire a subflow's input to a node inside it, or a node's output to a subflow output. */
  connectPort(sfId: string, kind: "in" | "out", index: number, node: string, port = 0): void {
    const sf = this.node(sfId);
    const p = sf ? portsOf(sf, kind)[index] : undefined;
    if (!p || p.wires.some((w) => w.id === node && (kind === "in" || w.port === port))) return;
    this.mutate(() => {
      p.wires = [...p.wires, kind === "in" ? { id: node } : { id: node, port }];
    });
  }
  disconnectPort(sfId: string, kind: "in" | "out", index: number, node: string, port = 0): void {
    const sf = this.node(sfId);
    const p = sf ? portsOf(sf, kind)[index] : undefined;
    if (!p) return;
    this.mutate(() => {
      p.wires = p.wires.filter((w) => !(w.id === node && (kind === "in" || (w.port ?? 0) === port)));
    });
  }
  movePort(sfId: string, kind: "in" | "out", index: number, x: number, y: number): void {
    const p = portsOf(this.node(sfId) ?? { id: "", type: "" }, kind)[index];
    if (!p) return;
    p.x = Math.round(x);
    p.y = Math.round(y);
    this.emit();
  }
  instancesOf(sfId: string): RawNode[] {
    return this.nodes.filter((n) => n.type === `subflow:${sfId}`);
  }
  /** Delete a subflow definition with its nodes and every instance of it. */
  deleteSubflow(sfId: string): void {
    const ids = new Set([sfId, ...this.nodes.filter((n) => n.z === sfId).map((n) => n.id), ...this.instancesOf(sfId).map((n) => n.id)]);
    this.deleteNodes(ids);
    if (this.activeTab === sfId || !this.node(this.activeTab)) this.activeTab = this.tabs()[0]?.id ?? "";
    this.emit();
  }

  // ----- tabs ---------------------------------------------------------------------------------

  addTab(label?: string): string {
    const id = newId();
    const n = this.tabs().filter((t) => t.type === "tab").length + 1;
    this.mutate(() => {
      this.nodes.push({ id, type: "tab", label: label ?? `Flow ${n}`, disabled: false, info: "" });
      this.activeTab = id;
    });
    return id;
  }
  removeTab(id: string): void {
    const members = new Set(this.nodes.filter((n) => n.z === id).map((n) => n.id));
    members.add(id);
    this.deleteNodes(members);
    if (!this.tabs().length) this.addTab();
    if (this.activeTab === id) this.activeTab = this.tabs()[0].id;
    this.emit();
  }
  setTab(id: string): void {
    this.activeTab = id;
    this.selection.clear();
    this.emit();
  }

  // ----- selection, clipboard -----------------------------------------------------------------

  select(ids: Iterable<string>): void {
    this.selection = new Set(ids);
    this.emit();
  }
  selectAll(): void {
    this.select(this.onTab(this.activeTab).map((n) => n.id));
  }
  /** The selected nodes plus the config nodes they use (what copy and export take). */
  selectedNodes(): RawNode[] {
    return this.nodes.filter((n) => this.selection.has(n.id));
  }
  copy(): number {
    this.clipboard = structuredClone(this.selectedNodes());
    if (this.clipboard.length) this.notify("info", `${this.clipboard.length} node(s) copied`);
    return this.clipboard.length;
  }
  cut(): void {
    if (this.copy()) this.deleteNodes(new Set(this.selection));
  }
  paste(): void {
    if (!this.clipboard.length) return;
    this.importNodes(structuredClone(this.clipboard), { offset: 20, forceNewIds: true });
  }

  /** Add nodes from a flows.json (or the clipboard): tabs come as new tabs, other nodes go
   * onto the current tab. Ids that already exist are replaced by new ones. */
  importNodes(items: RawNode[], opts: { offset?: number; forceNewIds?: boolean } = {}): RawNode[] {
    const existing = new Set(this.nodes.map((n) => n.id));
    const clash = opts.forceNewIds || items.some((n) => existing.has(n.id));
    const idMap = new Map<string, string>();
    for (const n of items) idMap.set(n.id, clash ? newId() : n.id);
    const imported = new Set(items.map((n) => n.id));
    const tabsIn = new Set(items.filter((n) => n.type === "tab" || n.type === "subflow").map((n) => n.id));
    const out: RawNode[] = [];
    for (const orig of items) {
      const n: RawNode = structuredClone(orig);
      n.id = idMap.get(orig.id)!;
      if (n.type === "tab" || n.type === "subflow") {
        for (const port of n.type === "subflow" ? [...portsOf(n, "in"), ...portsOf(n, "out")] : []) {
          port.wires = port.wires.filter((w) => imported.has(w.id)).map((w) => ({ ...w, id: idMap.get(w.id)! }));
        }
        out.push(n);
        continue;
      }
      if (n.z && tabsIn.has(n.z)) n.z = idMap.get(n.z);
      else if (!isConfigNode(n)) n.z = this.activeTab;
      else if (n.z && !imported.has(n.z)) delete n.z;
      if (n.g) n.g = imported.has(n.g) ? idMap.get(n.g) : undefined;
      if (n.g === undefined) delete n.g;
      if (Array.isArray(n.wires)) n.wires = n.wires.map((p) => (Array.isArray(p) ? p : []).filter((t) => imported.has(t)).map((t) => idMap.get(t)!));
      if (Array.isArray(n.links)) n.links = (n.links as string[]).map((t) => idMap.get(t) ?? t);
      if (Array.isArray(n.nodes)) n.nodes = (n.nodes as string[]).filter((t) => imported.has(t)).map((t) => idMap.get(t)!);
      if (n.type.startsWith("subflow:") && idMap.has(n.type.slice(8))) n.type = `subflow:${idMap.get(n.type.slice(8))}`;
      // references to config nodes (any string property naming an imported id)
      for (const [k, v] of Object.entries(n)) {
        if (k !== "id" && k !== "z" && typeof v === "string" && imported.has(v) && idMap.get(v) !== v) n[k] = idMap.get(v);
      }
      if (opts.offset && typeof n.x === "number" && typeof n.y === "number") {
        n.x += opts.offset;
        n.y += opts.offset;
      }
      out.push(n);
    }
    this.mutate(() => {
      this.nodes.push(...out);
      this.registerSubflows();
      const firstTab = out.find((n) => n.type === "tab");
      if (firstTab) this.activeTab = firstTab.id;
      this.selection = new Set(out.filter((n) => n.z === this.activeTab).map((n) => n.id));
    });
    return out;
  }

  // ----- notices, live data --------------------------------------------------------------------

  notify(kind: Notice["kind"], text: string, ms = 4000): void {
    const id = ++this.seq;
    this.notices = [...this.notices, { id, kind, text }];
    this.emit();
    if (ms > 0) setTimeout(() => this.dismiss(id), ms);
  }
  dismiss(id: number): void {
    this.notices = this.notices.filter((n) => n.id !== id);
    this.emit();
  }
  addDebug(d: Omit<DebugMsg, "seq" | "time">): void {
    this.debug = [...this.debug.slice(-499), { ...d, seq: ++this.seq, time: Date.now() }];
    this.emit();
  }
  addLog(l: Omit<LogLine, "seq">): void {
    this.log = [...this.log.slice(-499), { ...l, seq: ++this.seq }];
    this.emit();
  }
}

export const editor = new Editor();
(window as unknown as { plantwireEditor: Editor }).plantwireEditor = editor;

/** Re-render the calling component whenever the editor's state changes. */
export function useEditor(): Editor {
  useSyncExternalStore(editor.subscribe, editor.getVersion);
  return editor;
}

export type { Editor };
