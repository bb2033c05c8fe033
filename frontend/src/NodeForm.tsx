/** The edit tray: a node's form, generated from its type's JSON Schema. */
import { useEffect, useMemo, useState } from "react";
import { api } from "./api";
import { editor, newId, useEditor } from "./store";
import type { JsonSchema, NodeDef, RawNode } from "./types";
import {
  META,
  TYPED_TYPES,
  humanize,
  isCodeField,
  newNode,
  objectItems,
  resolve,
  typeFieldOf,
  typeFields,
  typesOf,
  validateNode,
} from "./schema";
import { CodeEditor } from "./CodeEditor";
import { Markdown } from "./Markdown";

type Obj = Record<string, unknown>;

/** Save the open form, then open a config node's form. */
let saveCurrent: (() => void) | null = null;
function onEditConfig(id: string): void {
  saveCurrent?.();
  editor.editing = id;
  editor.emit();
}

/** The config node type a field refers to: the catalogue's `x-config` on the field. */
function configTypeFor(schema: JsonSchema, root: JsonSchema): NodeDef | null {
  const s = resolve(schema, root);
  const name = s["x-config"] ?? s.anyOf?.map((a) => a["x-config"]).find((x) => x);
  return typeof name === "string" ? (editor.defs.get(name) ?? null) : null;
}

/** Credentials of a type, from the catalogue (write-only: the server never returns them). */
function Credentials({ node, def, onChange }: { node: RawNode; def: NodeDef | undefined; onChange: (creds: Record<string, string>) => void }) {
  const declared = def?.credentials ?? {};
  const fields = Object.keys(declared).length ? Object.entries(declared).map(([name, kind]) => ({ name, secret: kind === "password" })) : null;
  const [stored, setStored] = useState<Record<string, boolean>>({});
  useEffect(() => {
    if (!fields || !editor.deployed.has(node.id)) return;
    api<Record<string, boolean>>("GET", `/credentials/${encodeURIComponent(node.type)}/${encodeURIComponent(node.id)}`)
      .then(setStored)
      .catch(() => setStored({}));
  }, [node.id, node.type, fields !== null]);
  if (!fields) return null;
  const creds = (node.credentials ?? {}) as Record<string, string>;
  return (
    <div className="pw-credentials">
      <div className="pw-field-help">Credentials are stored encrypted on the server and never sent back: leave a field empty to keep what is stored.</div>
      {fields.map((f) => (
        <div className="pw-field" key={f.name}>
          <label>{humanize(f.name)}</label>
          <div className="pw-field-input">
            <input
              data-field={`credentials.${f.name}`}
              type={f.secret ? "password" : "text"}
              autoComplete="new-password"
              value={creds[f.name] ?? ""}
              placeholder={stored[`has_${f.name}`] ? "•••••• stored (type to replace)" : ""}
              onChange={(e) => onChange({ ...creds, [f.name]: e.target.value })}
            />
          </div>
        </div>
      ))}
    </div>
  );
}

/** A value with its type (Node-RED's TypedInput). */
function TypedInput({ path, value, vtype, onChange, onType }: { path: string; value: unknown; vtype: string; onChange: (v: unknown) => void; onType: (t: string) => void }) {
  const types = TYPED_TYPES.includes(vtype) || !vtype ? TYPED_TYPES : [vtype, ...TYPED_TYPES];
  const text = value === undefined || value === null ? "" : typeof value === "string" ? value : JSON.stringify(value);
  return (
    <div className="pw-typed">
      <select data-field={`${path}.__type`} value={vtype || "str"} onChange={(e) => onType(e.target.value)}>
        {types.map((t) => (
          <option key={t} value={t}>
            {t}
          </option>
        ))}
      </select>
      {vtype === "bool" ? (
        <select data-field={path} value={String(value === true || value === "true")} onChange={(e) => onChange(e.target.value)}>
          <option value="true">true</option>
          <option value="false">false</option>
        </select>
      ) : vtype === "date" ? (
        <span className="pw-typed-note">timestamp</span>
      ) : (
        <input data-field={path} value={text} placeholder={vtype === "msg" ? "payload" : ""} onChange={(e) => onChange(e.target.value)} />
      )}
    </div>
  );
}

function FieldInput({ path, keyName, schema, root, value, obj, onChange, def, errors, scope }: {
  path: string;
  keyName: string;
  schema: JsonSchema;
  root: JsonSchema;
  value: unknown;
  obj: Obj;
  onChange: (k: string, v: unknown) => void;
  def: NodeDef;
  errors: Record<string, string>;
  scope: string;
}) {
  const types = typesOf(schema, root);
  const props = (scope === "" ? root.properties : resolve(objectItems(root.properties?.[scope.split(".")[0]] ?? {}, root) ?? {}, root).properties) ?? {};
  const tf = typeFieldOf(keyName, props);
  const choices = (resolve(schema, root).enum ?? schema.enum)?.filter((c): c is string => typeof c === "string");
  const items = objectItems(schema, root);
  const cfg = configTypeFor(schema, root);

  if (tf) {
    return (
      <TypedInput
        path={path}
        value={value}
        vtype={String(obj[tf] ?? "")}
        onChange={(v) => onChange(keyName, v)}
        onType={(t) => onChange(tf, t)}
      />
    );
  }
  if (cfg) {
    const options = editor.configNodes().filter((n) => n.type === cfg.type);
    return (
      <div className="pw-config-picker">
        <select data-field={path} value={String(value ?? "")} onChange={(e) => onChange(keyName, e.target.value)}>
          <option value="">none</option>
          {options.map((n) => (
            <option key={n.id} value={n.id}>
              {String(n.name || n.label || n.broker || n.id)}
            </option>
          ))}
        </select>
        <button
          type="button"
          data-testid={`add-config-${keyName}`}
          onClick={() => {
            const n = newNode(cfg, newId(), "", 0, 0);
            editor.mutate(() => editor.nodes.push(n));
            onChange(keyName, n.id);
          }}
        >
          + add new {cfg.type}
        </button>
        {value ? (
          <button type="button" title="edit the configuration node (this form is saved first)" onClick={() => onEditConfig(String(value))}>
            ✎
          </button>
        ) : null}
      </div>
    );
  }
  if (choices && choices.length) {
    return (
      <select data-field={path} value={String(value ?? "")} onChange={(e) => onChange(keyName, e.target.value)}>
        {!choices.includes(String(value ?? "")) && <option value={String(value ?? "")}>{String(value ?? "")}</option>}
        {choices.map((c) => (
          <option key={c} value={c}>
            {c}
          </option>
        ))}
      </select>
    );
  }
  if (types.length && types.every((t) => t === "boolean" || t === "null")) {
    return <input type="checkbox" data-field={path} checked={value === true || value === "true"} onChange={(e) => onChange(keyName, e.target.checked)} />;
  }
  if (scope === "" && isCodeField(def, keyName)) {
    return <CodeEditor field={path} value={String(value ?? "")} onChange={(v) => onChange(keyName, v)} language={def.type === "function" ? "python" : "text"} />;
  }
  if (items && scope === "") {
    const list = Array.isArray(value) ? (value as Obj[]) : [];
    const iprops = items.properties ?? {};
    const hidden = typeFields(iprops);
    const setItem = (i: number, k: string, v: unknown) => {
      const next = list.map((x) => ({ ...x }));
      next[i][k] = v;
      onChange(keyName, next);
    };
    return (
      <div className="pw-list" data-field={path}>
        {list.map((item, i) => (
          <div className="pw-list-item" key={i}>
            {Object.entries(iprops)
              .filter(([k]) => !hidden.has(k) && !["re", "dc"].includes(k))
              .filter(([k]) => def.type !== "change" || (k !== "from" || item.t === "change") && (k !== "to" || item.t !== "delete"))
              .map(([k, s]) => (
                <label key={k} className="pw-list-field">
                  <span title={s.description}>{humanize(k)}</span>
                  <FieldInput
                    path={`${path}.${i}.${k}`}
                    keyName={k}
                    schema={s}
                    root={root}
                    value={item[k]}
                    obj={item}
                    onChange={(kk, v) => setItem(i, kk, v)}
                    def={def}
                    errors={errors}
                    scope={`${keyName}.${i}`}
                  />
                  {errors[`${path}.${i}.${k}`] && <span className="pw-field-error">{errors[`${path}.${i}.${k}`]}</span>}
                </label>
              ))}
            <button type="button" className="pw-list-remove" title="remove" onClick={() => onChange(keyName, list.filter((_, j) => j !== i))}>
              ✕
            </button>
          </div>
        ))}
        <button
          type="button"
          className="pw-list-add"
          onClick={() => {
            const blank: Obj = {};
            for (const [k, s] of Object.entries(iprops)) if (s.default !== undefined && s.default !== null) blank[k] = s.default;
            onChange(keyName, [...list, blank]);
          }}
        >
          + add
        </button>
      </div>
    );
  }
  if (types.includes("object") || (types.includes("array") && !types.includes("string"))) {
    return <JsonField path={path} value={value} onChange={(v) => onChange(keyName, v)} />;
  }
  const numeric = types.some((t) => t === "integer" || t === "number") && !types.includes("string") && !types.includes("any");
  const text = value === undefined || value === null ? "" : typeof value === "string" ? value : JSON.stringify(value);
  return (
    <input
      data-field={path}
      value={text}
      inputMode={numeric ? "decimal" : undefined}
      className={errors[path] ? "invalid" : ""}
      onChange={(e) => {
        const raw = e.target.value;
        if (numeric) {
          if (raw.trim() === "") onChange(keyName, types.includes("null") ? null : raw);
          else {
            const n = Number(raw);
            onChange(keyName, Number.isFinite(n) && (!types.every((t) => t === "integer" || t === "null") || Number.isInteger(n)) ? n : raw);
          }
        } else if (types.includes("string") || types.includes("any")) onChange(keyName, raw);
        else onChange(keyName, raw);
      }}
    />
  );
}

function JsonField({ path, value, onChange }: { path: string; value: unknown; onChange: (v: unknown) => void }) {
  const [text, setText] = useState(() => JSON.stringify(value ?? null, null, 2));
  const [err, setErr] = useState<string | null>(null);
  return (
    <div>
      <textarea
        data-field={path}
        className={`pw-json${err ? " invalid" : ""}`}
        rows={Math.min(10, text.split("\n").length + 1)}
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          try {
            onChange(JSON.parse(e.target.value));
            setErr(null);
          } catch (x) {
            setErr(`not valid JSON: ${(x as Error).message}`);
          }
        }}
      />
      {err && <span className="pw-field-error">{err}</span>}
    </div>
  );
}

function isLegacy(s: JsonSchema): boolean {
  return (s.description ?? "").startsWith("Legacy");
}

export function NodeForm({ id, onClose }: { id: string; onClose: () => void }) {
  const ed = useEditor();
  const original = ed.node(id);
  const [draft, setDraft] = useState<RawNode | null>(() => (original ? structuredClone(original) : null));
  const [showHelp, setShowHelp] = useState(false);
  const [showLegacy, setShowLegacy] = useState(false);
  useEffect(() => {
    if (!original) onClose();
  }, [original, onClose]);
  const def = draft ? ed.defs.get(draft.type) : undefined;
  const errors = useMemo(() => (draft ? validateNode(draft, def) : {}), [draft, def]);
  if (!draft || !original) return null;
  const serverProblems = ed.serverProblems.get(id) ?? [];
  for (const p of serverProblems) if (p.field && !errors[p.field]) errors[p.field] = `${p.message} (refused by the server)`;

  const set = (k: string, v: unknown) =>
    setDraft((d) => {
      const next = { ...(d as RawNode), [k]: v };
      if (k === "outputs" && typeof v === "number" && Number.isInteger(v) && v >= 0 && v < 100 && Array.isArray(next.wires)) {
        const w = next.wires.slice(0, v);
        while (w.length < v) w.push([]);
        next.wires = w;
      }
      return next;
    });
  const save = () => {
    editor.updateNode(id, draft);
    onClose();
  };
  saveCurrent = save;
  const props = def?.schema.properties ?? {};
  const hidden = typeFields(props);
  const keys = Object.keys(props).filter((k) => !META.has(k) && !hidden.has(k));
  keys.sort((a, b) => (a === "name" ? -1 : b === "name" ? 1 : 0));

  return (
    <div
      className="pw-tray"
      data-testid="edit-tray"
      onKeyDown={(e) => {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) save();
        if (e.key === "Escape") onClose();
        e.stopPropagation();
      }}
    >
      <div className="pw-tray-head">
        <span className="pw-tray-title">
          Edit {draft.type} node{def?.config ? " (configuration)" : ""}
        </span>
        <button type="button" className="pw-btn danger" onClick={() => { editor.deleteNodes(new Set([id])); onClose(); }}>
          Delete
        </button>
        <button type="button" className="pw-btn" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="pw-btn primary" data-testid="tray-done" onClick={save}>
          Done
        </button>
      </div>
      <div className="pw-tray-body">
        {!def && <div className="pw-warning">Unknown node type {draft.type}: its properties are kept as they are.</div>}
        {Object.keys(errors).length > 0 && (
          <div className="pw-form-errors" data-testid="form-errors">
            {Object.keys(errors).length} problem(s): the node can be saved, but the server will refuse to deploy it.
          </div>
        )}
        {keys.filter((k) => showLegacy || !isLegacy(props[k]) || errors[k]).map((k) => {
          const s = props[k];
          return (
            <div className={`pw-field${errors[k] ? " has-error" : ""}`} key={k} data-row={k}>
              <label title={s.description}>{humanize(k)}</label>
              <div className="pw-field-input">
                <FieldInput path={k} keyName={k} schema={s} root={def!.schema} value={draft[k]} obj={draft} onChange={set} def={def!} errors={errors} scope="" />
                {errors[k] && (
                  <div className="pw-field-error" data-error-for={k}>
                    {k}: {errors[k]}
                  </div>
                )}
                {s.description && <div className="pw-field-help">{s.description}</div>}
              </div>
            </div>
          );
        })}
        {keys.some((k) => isLegacy(props[k])) && (
          <button type="button" className="pw-link" onClick={() => setShowLegacy((x) => !x)}>
            {showLegacy ? "hide" : "show"} legacy properties (Node-RED's older forms, kept as they are)
          </button>
        )}
        <Credentials node={draft} def={def} onChange={(c) => set("credentials", c)} />
        <div className="pw-field">
          <label>Enabled</label>
          <div className="pw-field-input">
            <input type="checkbox" data-field="d" checked={!draft.d} onChange={(e) => set("d", !e.target.checked)} />
          </div>
        </div>
        <div className="pw-tray-foot">
          id {draft.id}
          {def && (
            <button type="button" className="pw-link" onClick={() => setShowHelp((x) => !x)}>
              {showHelp ? "hide help" : "help"}
            </button>
          )}
        </div>
        {showHelp && def && <Markdown text={def.help} />}
      </div>
    </div>
  );
}
