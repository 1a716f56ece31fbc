"""Model-driven request parsing and response serialisation.

Query protocol: the flattened form parameters (MetricData.member.1.Dimensions
.member.1.Name=...) are put into a trie and walked with the operation's
input shape, so list/map/structure nesting, locationName and flattened
traits all come from the model. Values are parsed strictly (integers,
doubles, booleans, ISO-8601 timestamps, base64 blobs).

JSON protocols (AWS JSON 1.0/1.1, REST-JSON): the body must be a UTF-8 JSON
object; every value must have the JSON type the shape calls for (a type
mismatch is a SerializationException, as Coral answers). Timestamps are
epoch seconds unless the shape says otherwise.

Both parsers report unknown members as Issue("unknown") and leave them out of
the result; the caller decides whether they are errors.
"""

import base64
import binascii
import datetime
import json
import math
import re
from xml.sax.saxutils import escape as _xml_escape

from .validation import Issue

UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)


class SerializationError(Exception):
    """The body cannot be read as the shape (JSON protocols)."""


_ABSENT = object()

# ---------------------------------------------------------------------------
# scalar parsing

_INT_RE = re.compile(r"[+-]?\d+\Z")
_FLOAT_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")
_ISO_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})\Z")
_B64_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}\Z")

INT32 = (-(2 ** 31), 2 ** 31 - 1)
INT64 = (-(2 ** 63), 2 ** 63 - 1)


def parse_iso8601(text):
    m = _ISO_RE.match(text)
    if not m:
        raise ValueError("not an ISO-8601 timestamp: %r" % text)
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7)
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    tz = m.group(8)
    if tz == "Z":
        tzinfo = UTC
    else:
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        tzinfo = datetime.timezone(sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    return datetime.datetime(y, mo, d, h, mi, s, micro, tzinfo=tzinfo).astimezone(UTC)


def epoch_to_datetime(value):
    """Out-of-range values (e.g. milliseconds sent where seconds are expected)
    are clamped to the datetime range so the service's own range checks
    ("must specify a time no more than two hours in the future") report them."""
    try:
        return EPOCH + datetime.timedelta(seconds=value)
    except OverflowError:
        return datetime.datetime.max.replace(tzinfo=UTC) if value > 0 else datetime.datetime.min.replace(tzinfo=UTC)


def datetime_to_epoch(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return (value - EPOCH).total_seconds()
    return float(value)


def _parse_query_scalar(text, shape):
    """Return the Python value or raise ValueError with a reason."""
    t = shape.type_name
    if t == "string":
        return text
    if t in ("integer", "long"):
        if not _INT_RE.match(text):
            raise ValueError("not an integer")
        v = int(text)
        lo, hi = INT32 if t == "integer" else INT64
        if not lo <= v <= hi:
            raise ValueError("out of range for %s" % t)
        return v
    if t in ("double", "float"):
        if text in ("NaN", "Infinity", "-Infinity", "+Infinity"):
            return float(text.replace("Infinity", "inf").replace("NaN", "nan"))
        if not _FLOAT_RE.match(text):
            raise ValueError("not a number")
        return float(text)
    if t == "boolean":
        if text == "true":
            return True
        if text == "false":
            return False
        raise ValueError("not 'true' or 'false'")
    if t == "timestamp":
        return parse_iso8601(text)
    if t == "blob":
        if not _B64_RE.match(text):
            raise ValueError("not base64")
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error:
            raise ValueError("not base64")
    raise ValueError("unsupported shape type %s" % t)


# ---------------------------------------------------------------------------
# query protocol

class _Node:
    __slots__ = ("value", "children")

    def __init__(self):
        self.value = None
        self.children = {}


QUERY_RESERVED = ("Action", "Version")


def parse_query(pairs, shape):
    """pairs: decoded (key, value) list without Action/Version.

    Returns (params, issues)."""
    root = _Node()
    issues = []
    for key, value in pairs:
        node = root
        for seg in key.split("."):
            node = node.children.setdefault(seg, _Node())
        if node.value is not None:
            issues.append(Issue("format", key.split("."), value,
                                message="parameter %s given more than once" % key))
            continue
        node.value = value
    if shape is None:
        for seg in root.children:
            issues.append(Issue("unknown", (seg,)))
        return {}, issues
    params = _q_struct(root, shape, (), issues)
    return params, issues


def _q_value(node, shape, path, issues):
    t = shape.type_name
    if t == "structure":
        if node.value is not None:
            issues.append(Issue("format", path, node.value, message="expected a structure"))
            return _ABSENT
        return _q_struct(node, shape, path, issues)
    if t == "list":
        return _q_list(node, shape, path, issues)
    if t == "map":
        return _q_map(node, shape, path, issues)
    for seg in node.children:
        issues.append(Issue("unknown", path + (seg,)))
    if node.value is None:
        issues.append(Issue("format", path, None, message="expected a value"))
        return _ABSENT
    try:
        return _parse_query_scalar(node.value, shape)
    except ValueError as e:
        issues.append(Issue("format", path, node.value, message=str(e)))
        return _ABSENT


def _q_struct(node, shape, path, issues):
    out = {}
    by_wire = {}
    for name, m in shape.members.items():
        by_wire[m.serialization.get("name", name)] = (name, m)
    for seg, child in node.children.items():
        hit = by_wire.get(seg)
        if hit is None:
            issues.append(Issue("unknown", path + (seg,)))
            continue
        name, mshape = hit
        v = _q_value(child, mshape, path + (name,), issues)
        if v is not _ABSENT:
            out[name] = v
    return out


def _indexed_children(node, path, issues, what):
    idx = {}
    for seg, child in node.children.items():
        if not seg.isdigit() or seg.startswith("0"):
            issues.append(Issue("unknown", path + (seg,)))
            continue
        idx[int(seg)] = child
    if idx and sorted(idx) != list(range(1, len(idx) + 1)):
        issues.append(Issue("format", path, sorted(idx),
                            message="%s indices must run 1..N without gaps, got %s"
                            % (what, sorted(idx))))
        return None
    return [idx[i] for i in sorted(idx)]


def _q_list(node, shape, path, issues):
    if node.value is not None:
        if node.value == "" and not node.children:
            return []  # botocore serialises an empty list as "Name="
        if node.value != "":
            issues.append(Issue("format", path, node.value, message="expected a list"))
            return _ABSENT
    if shape.serialization.get("flattened"):
        items_node = node
    else:
        mname = shape.member.serialization.get("name", "member")
        for seg in node.children:
            if seg != mname:
                issues.append(Issue("unknown", path + (seg,)))
        items_node = node.children.get(mname)
        if items_node is None:
            return []
    items = _indexed_children(items_node, path, issues, "list")
    if items is None:
        return _ABSENT
    out = []
    for i, child in enumerate(items):
        v = _q_value(child, shape.member, path + (i,), issues)
        if v is not _ABSENT:
            out.append(v)
    return out


def _q_map(node, shape, path, issues):
    if node.value is not None and not (node.value == "" and not node.children):
        issues.append(Issue("format", path, node.value, message="expected a map"))
        return _ABSENT
    if shape.serialization.get("flattened"):
        entries_node = node
    else:
        for seg in node.children:
            if seg != "entry":
                issues.append(Issue("unknown", path + (seg,)))
        entries_node = node.children.get("entry")
        if entries_node is None:
            return {}
    entries = _indexed_children(entries_node, path, issues, "map entry")
    if entries is None:
        return _ABSENT
    kname = shape.key.serialization.get("name", "key")
    vname = shape.value.serialization.get("name", "value")
    out = {}
    for i, entry in enumerate(entries):
        for seg in entry.children:
            if seg not in (kname, vname):
                issues.append(Issue("unknown", path + (i, seg)))
        knode, vnode = entry.children.get(kname), entry.children.get(vname)
        if knode is None or knode.value is None or vnode is None:
            issues.append(Issue("format", path, None, message="map entry %d needs %s and %s"
                                % (i + 1, kname, vname)))
            continue
        v = _q_value(vnode, shape.value, path + (knode.value,), issues)
        if knode.value in out:
            issues.append(Issue("format", path, knode.value, message="duplicate map key"))
        if v is not _ABSENT:
            out[knode.value] = v
    return out


# ---------------------------------------------------------------------------
# JSON protocols

def _no_constants(name):
    raise SerializationError("%s is not valid JSON" % name)


def _pairs_no_dupes(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise SerializationError("Duplicate field '%s'" % k)
        d[k] = v
    return d


def load_json_body(body):
    if not body:
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SerializationError("Request body is not valid UTF-8")
    try:
        doc = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_pairs_no_dupes)
    except ValueError as e:
        raise SerializationError("Request body is not valid JSON: %s" % e)
    if not isinstance(doc, dict):
        raise SerializationError("Request body must be a JSON object")
    return doc


_JSON_KIND = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


def _kind(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    return _JSON_KIND.get(type(v), type(v).__name__)


def _path_str(path):
    return ".".join(str(p if not isinstance(p, tuple) else p[1]) for p in path) or "(body)"


def parse_json_params(doc, shape, issues, path=()):
    """Typed conversion of a JSON value for shape; raises SerializationError."""
    t = shape.type_name

    def bad(expected):
        raise SerializationError("Expected %s at '%s' but found %s" % (expected, _path_str(path), _kind(doc)))

    if t == "structure":
        if not isinstance(doc, dict):
            bad("object")
        if shape.is_document_type:
            return doc
        out = {}
        by_wire = {}
        for name, m in shape.members.items():
            if m.serialization.get("location") in ("header", "headers", "querystring", "uri", "statusCode"):
                continue
            by_wire[m.serialization.get("name", name)] = (name, m)
        for k, v in doc.items():
            hit = by_wire.get(k)
            if hit is None:
                issues.append(Issue("unknown", path + (k,), v))
                continue
            if v is None:
                continue  # JSON null means "not set"
            name, mshape = hit
            out[name] = parse_json_params(v, mshape, issues, path + (name,))
        return out
    if t == "list":
        if not isinstance(doc, list):
            bad("array")
        out = []
        for i, item in enumerate(doc):
            if item is None:
                raise SerializationError("null element at '%s'" % _path_str(path + (i,)))
            out.append(parse_json_params(item, shape.member, issues, path + (i,)))
        return out
    if t == "map":
        if not isinstance(doc, dict):
            bad("object")
        out = {}
        for k, v in doc.items():
            if v is None:
                raise SerializationError("null map value at '%s'" % _path_str(path + (k,)))
            out[k] = parse_json_params(v, shape.value, issues, path + (k,))
        return out
    if t == "string":
        if not isinstance(doc, str):
            bad("string")
        return doc
    if t in ("integer", "long"):
        if isinstance(doc, bool) or not isinstance(doc, int):
            bad("integer")
        lo, hi = INT32 if t == "integer" else INT64
        if not lo <= doc <= hi:
            raise SerializationError("Number at '%s' out of range for %s" % (_path_str(path), t))
        return doc
    if t in ("double", "float"):
        if isinstance(doc, bool) or not isinstance(doc, (int, float)):
            bad("number")
        return float(doc)
    if t == "boolean":
        if not isinstance(doc, bool):
            bad("boolean")
        return doc
    if t == "timestamp":
        fmt = shape.serialization.get("timestampFormat")
        if fmt == "iso8601":
            if not isinstance(doc, str):
                bad("ISO-8601 string")
            try:
                return parse_iso8601(doc)
            except ValueError as e:
                raise SerializationError(str(e))
        if isinstance(doc, bool) or not isinstance(doc, (int, float)):
            bad("epoch-seconds number")
        if not math.isfinite(doc):
            bad("finite number")
        return epoch_to_datetime(doc)
    if t == "blob":
        if not isinstance(doc, str) or not _B64_RE.match(doc):
            bad("base64 string")
        return base64.b64decode(doc)
    raise SerializationError("unsupported shape type %s" % t)


# ---------------------------------------------------------------------------
# output serialisation

def to_json_value(value, shape):
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, m in shape.members.items():
            if name in value and value[name] is not None:
                out[m.serialization.get("name", name)] = to_json_value(value[name], m)
        return out
    if t == "list":
        return [to_json_value(v, shape.member) for v in value]
    if t == "map":
        return {k: to_json_value(v, shape.value) for k, v in value.items()}
    if t == "timestamp":
        return datetime_to_epoch(value)
    if t == "blob":
        return base64.b64encode(value).decode()
    return value


def json_body(value, shape):
    doc = to_json_value(value or {}, shape) if shape is not None else {}
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def _xml_scalar(value, shape):
    t = shape.type_name
    if t == "boolean":
        return "true" if value else "false"
    if t == "timestamp":
        if not isinstance(value, datetime.datetime):
            value = epoch_to_datetime(value)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (value.microsecond // 1000)
    if t == "blob":
        return base64.b64encode(value).decode()
    return _xml_escape(str(value))


def _xml_value(tag, value, shape, out):
    t = shape.type_name
    if t == "structure":
        out.append("<%s>" % tag)
        for name, m in shape.members.items():
            if name in value and value[name] is not None:
                _xml_value(m.serialization.get("name", name), value[name], m, out)
        out.append("</%s>" % tag)
    elif t == "list":
        mtag = shape.member.serialization.get("name", "member")
        if shape.serialization.get("flattened"):
            for v in value:
                _xml_value(tag, v, shape.member, out)
        else:
            out.append("<%s>" % tag)
            for v in value:
                _xml_value(mtag, v, shape.member, out)
            out.append("</%s>" % tag)
    elif t == "map":
        kt = shape.key.serialization.get("name", "key")
        vt = shape.value.serialization.get("name", "value")
        out.append("<%s>" % tag)
        for k, v in value.items():
            out.append("<entry>")
            _xml_value(kt, k, shape.key, out)
            _xml_value(vt, v, shape.value, out)
            out.append("</entry>")
        out.append("</%s>" % tag)
    else:
        out.append("<%s>%s</%s>" % (tag, _xml_scalar(value, shape), tag))


def query_success_body(op_model, value, xmlns, request_id):
    name = op_model.name
    out = ['<%sResponse xmlns="%s">' % (name, xmlns)]
    shape = op_model.output_shape
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper") or "%sResult" % name
        out_members = []
        for mname, m in shape.members.items():
            if value and mname in value and value[mname] is not None:
                _xml_value(m.serialization.get("name", mname), value[mname], m, out_members)
        out.append("<%s>%s</%s>" % (wrapper, "".join(out_members), wrapper))
    out.append("<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>" % request_id)
    out.append("</%sResponse>" % name)
    return "".join(out).encode("utf-8")


def query_error_body(err, xmlns, request_id):
    return ('<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message>'
            '</Error><RequestId>%s</RequestId></ErrorResponse>'
            % (xmlns, "Sender" if err.sender else "Receiver", _xml_escape(err.code),
               _xml_escape(err.message), request_id)).encode("utf-8")
