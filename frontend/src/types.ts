/** A node object as Node-RED writes it in flows.json (tabs, groups and config nodes too). */
export interface RawNode {
  id: string;
  type: string;
  z?: string;
  x?: number;
  y?: number;
  w?: number;
  h?: number;
  g?: string;
  name?: string;
  label?: string;
  wires?: string[][];
  [key: string]: unknown;
}

export interface JsonSchema {
  type?: string | string[];
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  title?: string;
  minimum?: number;
  maximum?: number;
  format?: string;
  writeOnly?: boolean;
  /** The field holds the id of a config node of this type. */
  "x-config"?: string;
  [key: string]: unknown;
}

/** One entry of GET /nodes. */
export interface NodeDef {
  type: string;
  category: string;
  inputs: number;
  outputs: number;
  color: string;
  icon: string;
  config: boolean;
  summary: string;
  help: string;
  module: string;
  schema: JsonSchema;
  /** Label in the palette (subflows: their name). */
  label?: string;
  /** Credential properties: "text" (shown) or "password" (write-only). */
  credentials?: Record<string, "text" | "password">;
}

export interface Status {
  fill?: string;
  shape?: string;
  text?: string;
}

export interface DebugMsg {
  seq: number;
  time: number;
  id: string;
  z?: string;
  name?: string;
  topic?: string;
  property?: string;
  format?: string;
  msg?: string;
}

export interface LogLine {
  seq: number;
  timestamp: number;
  level: string;
  text: string;
  id?: string;
  type?: string;
  name?: string;
}

export interface Problem {
  id: string;
  type?: string;
  field?: string | null;
  message: string;
}
