"""XML to objects and back, the way xml2js 0.6 (Node-RED's XML library) does it.

:func:`xml_parse` reproduces xml2js's parser with its options (``attrkey``,
``charkey``, ``explicitArray``, ``explicitRoot``, ``mergeAttrs``, ``ignoreAttrs``,
``trim``, ``normalize``, ``normalizeTags``, ``explicitCharkey``, ``emptyTag``,
``includeWhiteChars`` ...); :func:`xml_build` reproduces its Builder on top of
xmlbuilder's writer (``rootName``, ``xmldec``, ``headless``, ``cdata``,
``renderOpts``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from plantwire.expressions.env import to_js_string

__all__ = ["XMLParseError", "xml_build", "xml_parse"]

_WS_ONLY = re.compile(r"^\s*$")
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class XMLParseError(ValueError):
    """The text is not well-formed XML."""


def _opt(options: dict[str, Any], key: str, default: Any) -> Any:
    return options.get(key, default)


def _assign_or_push(obj: dict[str, Any], key: str, value: Any, explicit_array: bool) -> None:
    if key not in obj:
        obj[key] = [value] if explicit_array else value
    else:
        if not isinstance(obj[key], list):
            obj[key] = [obj[key]]
        obj[key].append(value)


def xml_parse(text: str, options: dict[str, Any] | None = None) -> Any:
    """Parse XML text into xml2js's object form; empty text gives None."""
    opts = options or {}
    attrkey = str(_opt(opts, "attrkey", "$"))
    charkey = str(_opt(opts, "charkey", "_"))
    explicit_array = bool(_opt(opts, "explicitArray", True))
    explicit_root = bool(_opt(opts, "explicitRoot", True))
    explicit_charkey = bool(_opt(opts, "explicitCharkey", False))
    ignore_attrs = bool(_opt(opts, "ignoreAttrs", False))
    merge_attrs = bool(_opt(opts, "mergeAttrs", False))
    trim = bool(_opt(opts, "trim", False))
    normalize = bool(_opt(opts, "normalize", False))
    normalize_tags = bool(_opt(opts, "normalizeTags", False))
    empty_tag = _opt(opts, "emptyTag", "")
    if text.strip() == "":
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    stack: list[tuple[dict[str, Any], str, list[bool]]] = []
    result: list[Any] = []
    in_cdata = [False]

    def start(name: str, attrs: dict[str, str]) -> None:
        if result:
            raise XMLParseError("Text data outside of root node.")
        obj: dict[str, Any] = {charkey: ""}
        if not ignore_attrs:
            for key, value in attrs.items():
                if merge_attrs:
                    _assign_or_push(obj, key, value, explicit_array)
                else:
                    obj.setdefault(attrkey, {})[key] = value
        stack.append((obj, name.lower() if normalize_tags else name, [False]))

    def end(_name: str) -> None:
        obj, name, cdata = stack.pop()
        value: Any = obj
        empty_str = ""
        chars = obj[charkey]
        if isinstance(chars, str) and _WS_ONLY.match(chars) and not cdata[0]:
            empty_str = chars
            del obj[charkey]
        else:
            if trim:
                obj[charkey] = obj[charkey].strip()
            if normalize:
                obj[charkey] = re.sub(r"\s{2,}", " ", obj[charkey]).strip()
            if len(obj) == 1 and charkey in obj and not explicit_charkey:
                value = obj[charkey]
        if isinstance(value, dict) and not value:
            value = empty_tag if empty_tag != "" else empty_str
        if stack:
            _assign_or_push(stack[-1][0], name, value, explicit_array)
        else:
            result.append({name: value} if explicit_root else value)

    def chars(data: str) -> None:
        if stack:
            stack[-1][0][charkey] += data
            if in_cdata[0]:
                stack[-1][2][0] = True
        elif data.strip() and not result:
            raise XMLParseError("Non-whitespace before first tag.")

    def cdata_start() -> None:
        in_cdata[0] = True

    def cdata_end() -> None:
        in_cdata[0] = False

    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartCdataSectionHandler = cdata_start
    parser.EndCdataSectionHandler = cdata_end
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        if not result or "junk after document element" not in str(exc):
            raise XMLParseError(str(exc)) from None
    except XMLParseError:
        if not result:
            raise
    if not result:
        raise XMLParseError("Unclosed root tag")
    return result[0]


# ----- building ------------------------------------------------------------------------


@dataclass
class _El:
    name: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[_El | tuple[str, str]] = field(default_factory=list)


def _check_chars(text: str) -> str:
    m = _ILLEGAL.search(text)
    if m:
        raise ValueError(f"Invalid character in string: {text} at index {m.start()}")
    return text


def _esc_text(text: str) -> str:
    text = _check_chars(text)
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")
    )


def _esc_attr(text: str) -> str:
    text = _check_chars(text).replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    return text.replace("\t", "&#x9;").replace("\n", "&#xA;").replace("\r", "&#xD;")


def _needs_cdata(value: Any) -> bool:
    return isinstance(value, str) and any(c in value for c in "&<>")


def _cdata(value: str) -> tuple[str, str]:
    return ("raw", "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>", 1) + "]]>")


def _text(value: Any, use_cdata: bool) -> tuple[str, str]:
    if use_cdata and _needs_cdata(value):
        return _cdata(value)
    return ("text", to_js_string(value))


def _render(el: _El, obj: Any, opts: dict[str, Any]) -> None:
    attrkey = str(_opt(opts, "attrkey", "$"))
    charkey = str(_opt(opts, "charkey", "_"))
    use_cdata = bool(_opt(opts, "cdata", False))
    if not isinstance(obj, dict | list) and obj is not None:
        el.children.append(_text(obj, use_cdata))
    elif isinstance(obj, list):
        for child in obj:
            if isinstance(child, dict):
                for key, entry in child.items():
                    sub = _El(str(key))
                    el.children.append(sub)
                    _render(sub, entry, opts)
    elif isinstance(obj, dict):
        for key, child in obj.items():
            if key == attrkey:
                if isinstance(child, dict):
                    for attr, value in child.items():
                        if value is not None:
                            el.attrs[str(attr)] = to_js_string(value)
            elif key == charkey:
                el.children.append(_text(child, use_cdata))
            elif isinstance(child, list):
                for entry in child:
                    sub = _El(str(key))
                    el.children.append(sub)
                    if isinstance(entry, str):
                        sub.children.append(_text(entry, use_cdata))
                    else:
                        _render(sub, entry, opts)
            else:
                sub = _El(str(key))
                el.children.append(sub)
                if child is None or isinstance(child, dict):
                    _render(sub, child, opts)
                else:
                    sub.children.append(_text(child, use_cdata))


def _write(el: _El, pretty: bool, indent: str, nl: str, level: int) -> str:
    pad = indent * level if pretty else ""
    end = nl if pretty else ""
    out = pad + "<" + el.name
    for k, v in el.attrs.items():
        out += f' {k}="{_esc_attr(v)}"'
    kids = el.children
    if not kids or all(isinstance(c, tuple) and c[1] == "" for c in kids):
        return out + "/>" + end
    if pretty and len(kids) == 1 and isinstance(kids[0], tuple):
        kind, value = kids[0]
        return out + ">" + (value if kind == "raw" else _esc_text(value)) + f"</{el.name}>" + end
    out += ">" + end
    for c in kids:
        if isinstance(c, tuple):
            kind, value = c
            body = value if kind == "raw" else _esc_text(value)
            out += (indent * (level + 1) if pretty else "") + body + end
        else:
            out += _write(c, pretty, indent, nl, level + 1)
    return out + pad + f"</{el.name}>" + end


def xml_build(obj: Any, options: dict[str, Any] | None = None) -> str:
    """Build XML text from an xml2js-style object (xml2js ``Builder.buildObject``)."""
    opts = options or {}
    root_name = _opt(opts, "rootName", "root")
    keys = list(obj.keys()) if isinstance(obj, dict) else [str(i) for i in range(len(obj))]
    if len(keys) == 1 and root_name == "root":
        name = keys[0]
        body = obj[name] if isinstance(obj, dict) else obj[0]
    else:
        name, body = str(root_name), obj
    root = _El(str(name))
    _render(root, body, opts)
    render_opts = _opt(opts, "renderOpts", {"pretty": True, "indent": "  ", "newline": "\n"})
    if not isinstance(render_opts, dict):
        render_opts = {}
    pretty = bool(render_opts.get("pretty", False))
    indent = str(render_opts.get("indent", "  "))
    nl = str(render_opts.get("newline", "\n"))
    out = ""
    if not _opt(opts, "headless", False):
        dec = _opt(opts, "xmldec", {"version": "1.0", "encoding": "UTF-8", "standalone": True})
        dec = dec if isinstance(dec, dict) else {}
        out = f'<?xml version="{dec.get("version", "1.0")}"'
        if dec.get("encoding"):
            out += f' encoding="{dec["encoding"]}"'
        if dec.get("standalone") is not None:
            out += f' standalone="{"yes" if dec["standalone"] else "no"}"'
        out += "?>" + (nl if pretty else "")
    out += _write(root, pretty, indent, nl, 0)
    if pretty and out.endswith(nl):
        out = out[: -len(nl)]
    return out
