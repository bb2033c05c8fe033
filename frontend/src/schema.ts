/** Forms and validation from the JSON Schema of a node type (GET /nodes). */
import type { JsonSchema, NodeDef, RawNode } from "./types";

/** Properties every node has; not shown in the form. */
export const META = new Set(["id", "type", "z", "d", "g", "wires", "x", "y", "w", "h", "credentials"]);

/** The types of a typed input (Node-RED's TypedInput). */
export const TYPED_TYPES = ["msg", "flow", "global", "str", "num", "bool", "json", "bin", "date", "jsonata", "env", "re"];

/** Defaults Node-RED's palette gives a new node (the schema's defaults fill the rest). */
export const NEW_NODE: Record<string, Record<string, unknown>> = {
  inject: {
    props: [{ p: "payload" }, { p: "topic", vt: "str" }],
    repeat: "",
    crontab: "",
    once: false,
    onceDelay: 0.1,
    topic: "",
    payload: "",
    payloadType: "date",
  },
  change: { rules: [{ t: "set", p: "payload", pt: "msg", to: "", tot: "str" }] },
  debug: { active: true, tosidebar: true, console: false, tostatus: false, complete: "payload", targetType: "msg" },
};

export function resolve(schema: JsonSchema, root: JsonSchema): JsonSchema {
  if (schema.$ref && schema.$ref.startsWith("#/$defs/")) {
    const def = root.$defs?.[schema.$ref.slice(8)];
    if (def) return def;
  }
  return schema;
}

/** The JSON types a schema allows ("any" when it does not say). */
export function typesOf(schema: JsonSchema, root: JsonSchema): string[] {
  const s = resolve(schema, root);
  if (s.anyOf) return s.anyOf.flatMap((x) => typesOf(x, root));
  if (Array.isArray(s.type)) return s.type;
  if (s.type) return [s.type];
  if (s.properties) return ["object"];
  return ["any"];
}

/** The schema of an array's items when they are objects, else null. */
export function objectItems(schema: JsonSchema, root: JsonSchema): JsonSchema | null {
  const s = resolve(schema, root);
  const alts = s.anyOf ?? [s];
  for (const alt of alts) {
    const a = resolve(alt, root);
    if (a.type === "array" && a.items) {
      const it = resolve(a.items, root);
      if (it.properties) return it;
    }
  }
  return null;
}

/** For a field, the name of the field holding its typed-input type, if any. */
export function typeFieldOf(key: string, props: Record<string, JsonSchema>): string | null {
  for (const cand of [`${key}Type`, `${key}t`, `${key}_type`]) {
    if (!(cand in props) || cand === key) continue;
    // a field with fixed words that are not typed-input types (e.g. an AMQP exchangeType)
    // is a setting of its own, not the type of `key`
    const words = props[cand].enum;
    if (words && !words.some((w) => TYPED_TYPES.includes(String(w)))) continue;
    return cand;
  }
  return null;
}

/** Fields that hold the type of another field (rendered with that field). */
export function typeFields(props: Record<string, JsonSchema>): Set<string> {
  const out = new Set<string>();
  for (const k of Object.keys(props)) {
    const t = typeFieldOf(k, props);
    if (t) out.add(t);
  }
  return out;
}

export function isCodeField(def: NodeDef, key: string): boolean {
  return (
    ["func", "initialize", "finalize", "template", "code", "script", "sql", "query"].includes(key) &&
    typesOf(def.schema.properties?.[key] ?? {}, def.schema).includes("string")
  );
}

/** A new node of `def`'s type: the schema's defaults plus Node-RED's palette defaults. */
export function newNode(def: NodeDef, id: string, z: string, x: number, y: number): RawNode {
  const node: RawNode = { id, type: def.type, z, name: "" };
  for (const [k, s] of Object.entries(def.schema.properties ?? {})) {
    if (META.has(k) || k === "name") continue;
    if (s.default !== undefined && s.default !== null) node[k] = structuredClone(s.default);
  }
  Object.assign(node, structuredClone(NEW_NODE[def.type] ?? {}));
  if (!def.config) {
    node.x = x;
    node.y = y;
    node.wires = Array.from({ length: def.outputs }, () => []);
  } else {
    delete node.z;
  }
  return node;
}

function isNumeric(v: unknown): boolean {
  if (typeof v === "number") return Number.isFinite(v);
  return typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v));
}

/** What is wrong with one value, or null. */
export function checkValue(value: unknown, schema: JsonSchema, root: JsonSchema, typeOfValue?: unknown): string | null {
  if (value === undefined) return null;
  if (typeOfValue === "num" && !isNumeric(value)) return `not a number: ${JSON.stringify(value)}`;
  if (typeOfValue === "json" && typeof value === "string") {
    try {
      JSON.parse(value);
    } catch (e) {
      return `not valid JSON: ${(e as Error).message}`;
    }
  }
  const types = typesOf(schema, root);
  if (types.includes("any")) return null;
  const ok = types.some((t) => {
    switch (t) {
      case "string":
        return typeof value === "string";
      case "number":
        return typeof value === "number" && Number.isFinite(value);
      case "integer":
        return typeof value === "number" && Number.isInteger(value);
      case "boolean":
        return typeof value === "boolean";
      case "null":
        return value === null;
      case "array":
        return Array.isArray(value);
      case "object":
        return value !== null && typeof value === "object" && !Array.isArray(value);
      default:
        return true;
    }
  });
  if (ok) {
    const s = resolve(schema, root);
    if (typeof value === "number" && s.minimum !== undefined && value < s.minimum) return `must be at least ${s.minimum}`;
    if (typeof value === "number" && s.maximum !== undefined && value > s.maximum) return `must be at most ${s.maximum}`;
    if (s.enum && !s.enum.includes(value)) return `must be one of ${s.enum.map((x) => JSON.stringify(x)).join(", ")}`;
    return null;
  }
  const wanted = types.filter((t) => t !== "null");
  const names: Record<string, string> = { integer: "a whole number", number: "a number", string: "text", boolean: "true or false", array: "a list", object: "an object" };
  return `expected ${wanted.map((t) => names[t] ?? t).join(" or ")}, got ${JSON.stringify(value)}`;
}

/** Every problem of a node against its type's schema: field path -> message. */
export function validateNode(node: RawNode, def: NodeDef | undefined): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!def) {
    if (!["tab", "group", "subflow", "comment"].includes(node.type) && !node.type.startsWith("subflow:")) {
      errors.type = `unknown node type ${JSON.stringify(node.type)}`;
    }
    return errors;
  }
  const root = def.schema;
  const props = root.properties ?? {};
  for (const k of root.required ?? []) {
    if (!META.has(k) && node[k] === undefined) errors[k] = "required";
  }
  for (const [k, s] of Object.entries(props)) {
    if (META.has(k)) continue;
    const tf = typeFieldOf(k, props);
    const err = checkValue(node[k], s, root, tf ? node[tf] : undefined);
    if (err) {
      errors[k] = err;
      continue;
    }
    const items = objectItems(s, root);
    if (items && Array.isArray(node[k])) {
      const iprops = items.properties ?? {};
      (node[k] as Record<string, unknown>[]).forEach((item, i) => {
        if (!item || typeof item !== "object") return;
        for (const [ik, is] of Object.entries(iprops)) {
          const itf = typeFieldOf(ik, iprops);
          const ie = checkValue(item[ik], is, root, itf ? item[itf] : undefined);
          if (ie) errors[`${k}.${i}.${ik}`] = ie;
        }
      });
    }
  }
  return errors;
}

const LABELS: Record<string, string> = { t: "Action", p: "Property", v: "Value", to: "To", from: "Search for", dc: "Deep copy" };

export function humanize(key: string): string {
  if (LABELS[key]) return LABELS[key];
  const spaced = key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/_/g, " ");
  return spaced.charAt(0).toUpperCase() + spaced.slice(1);
}
