"""Validate parsed input against the service model.

botocore.validate.ParamValidator checks required members, unknown members,
types and the "min" traits. It does not check "max", "enum" or "pattern",
nor the size of maps, so check_constraints() adds those from the same model.
Both produce Issue values; the service modules render them in the style of
the service (Coral "N validation errors detected: ..." for Logs, STS, SNS,
X-Ray; CloudWatch's own "The parameter X is required." style).
"""

import math
import re

from botocore.validate import ParamValidator

from .models import pattern_matches


class Issue:
    """One thing wrong with the input.

    kind: required | unknown | min_length | max_length | min_value | max_value |
          enum | pattern | format | custom
    path: tuple of member names (str), list indices (int, 0-based) and
          ("key", k) tuples for map keys, relative to the input shape.
    """

    __slots__ = ("kind", "path", "value", "limit", "message", "code")

    def __init__(self, kind, path, value=None, limit=None, message=None, code=None):
        self.kind = kind
        self.path = tuple(path)
        self.value = value
        self.limit = limit
        self.message = message
        self.code = code

    def __repr__(self):
        return "Issue(%s, %r, %r)" % (self.kind, self.path, self.limit)


_NAME_TOKEN = re.compile(r"\.([^.\[\s]+)|\[(\d+)\]| \(key: (.*)\)$")


def _parse_botocore_name(name):
    path = []
    pos = 0
    while pos < len(name):
        m = _NAME_TOKEN.match(name, pos)
        if not m:
            # Root-level names come without a leading dot.
            m2 = re.match(r"([^.\[\s]+)", name[pos:])
            if not m2:
                break
            path.append(m2.group(1))
            pos += m2.end()
            continue
        if m.group(1) is not None:
            path.append(m.group(1))
        elif m.group(2) is not None:
            path.append(int(m.group(2)))
        else:
            path.append(("key", m.group(3)))
        pos = m.end()
    return tuple(path)


def _from_botocore(error):
    reason, name, kw = error
    path = _parse_botocore_name(name)
    if reason == "missing required field":
        return Issue("required", path + (kw["required_name"],))
    if reason == "unknown field":
        return Issue("unknown", path + (kw["unknown_param"],))
    if reason == "invalid length":
        return Issue("min_length", path, kw.get("param"), kw.get("min_allowed"))
    if reason == "invalid range":
        return Issue("min_value", path, kw.get("param"), kw.get("min_allowed"))
    return Issue("format", path, kw.get("param"), message="%s for %s" % (reason, name))


def validate(params, shape):
    """All model issues for params (already parsed into Python types)."""
    report = ParamValidator().validate(params, shape)
    issues = [_from_botocore(e) for e in getattr(report, "_errors", [])]
    if report.has_errors() and not issues:  # botocore internals changed: fail loudly
        issues.append(Issue("format", (), message=report.generate_report()))
    seen = {(i.kind, i.path) for i in issues}
    for extra in check_constraints(params, shape):
        if (extra.kind, extra.path) not in seen:
            issues.append(extra)
    return issues


def check_constraints(value, shape, path=()):
    """max / enum / pattern / map-size traits that ParamValidator skips."""
    out = []
    t = shape.type_name
    md = shape.metadata
    if t == "structure":
        if isinstance(value, dict):
            for name, mshape in shape.members.items():
                if name in value and value[name] is not None:
                    out.extend(check_constraints(value[name], mshape, path + (name,)))
    elif t == "list":
        if isinstance(value, list):
            if "max" in md and len(value) > md["max"]:
                out.append(Issue("max_length", path, value, md["max"]))
            for i, item in enumerate(value):
                out.extend(check_constraints(item, shape.member, path + (i,)))
    elif t == "map":
        if isinstance(value, dict):
            if "max" in md and len(value) > md["max"]:
                out.append(Issue("max_length", path, value, md["max"]))
            if "min" in md and len(value) < md["min"]:
                out.append(Issue("min_length", path, value, md["min"]))
            for k, v in value.items():
                out.extend(check_constraints(k, shape.key, path + (("key", k),)))
                out.extend(check_constraints(v, shape.value, path + (k,)))
    elif t == "string":
        if isinstance(value, str):
            if "max" in md and len(value) > md["max"]:
                out.append(Issue("max_length", path, value, md["max"]))
            enum = md.get("enum")
            if enum and value not in enum:
                out.append(Issue("enum", path, value, enum))
            pattern = md.get("pattern")
            if pattern and not pattern_matches(pattern, value):
                out.append(Issue("pattern", path, value, pattern))
    elif t in ("integer", "long", "double", "float"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "max" in md and not (isinstance(value, float) and math.isnan(value)) and value > md["max"]:
                out.append(Issue("max_value", path, value, md["max"]))
    return out


# ---------------------------------------------------------------------------
# Path rendering

def _member_wire_name(shape, name):
    m = shape.members.get(name)
    if m is None:
        return name, None
    return m.serialization.get("name", name), m


def query_path(root, path):
    """'MetricData.member.1.Dimensions.member.2.Name' style (query wire names)."""
    out = []
    shape = root
    for seg in path:
        if shape is None:
            out.append(str(seg if not isinstance(seg, tuple) else seg[1]))
            continue
        if isinstance(seg, tuple):
            out.append(str(seg[1]))
            shape = shape.key if shape.type_name == "map" else None
        elif isinstance(seg, int):
            if shape.type_name == "list":
                if shape.serialization.get("flattened"):
                    out.append(str(seg + 1))
                else:
                    out.append("%s.%d" % (shape.member.serialization.get("name", "member"), seg + 1))
                shape = shape.member
            else:
                out.append(str(seg + 1))
                shape = None
        else:
            if shape.type_name == "structure":
                wire, shape = _member_wire_name(shape, seg)
                out.append(wire)
            elif shape.type_name == "map":
                out.append(seg)
                shape = shape.value
            else:
                out.append(seg)
                shape = None
    return ".".join(out)


def coral_path(root, path, lower_first=False):
    """'logEvents.1.member.message' style used in Coral validation messages."""
    out = []
    shape = root
    for seg in path:
        if isinstance(seg, tuple):
            out.append(str(seg[1]))
            shape = shape.key if shape is not None and shape.type_name == "map" else None
        elif isinstance(seg, int):
            out.append("%d.member" % (seg + 1))
            shape = shape.member if shape is not None and shape.type_name == "list" else None
        else:
            name = seg
            if shape is not None and shape.type_name == "structure":
                _, shape = _member_wire_name(shape, seg)
            elif shape is not None and shape.type_name == "map":
                shape = shape.value
            else:
                shape = None
            out.append(name[:1].lower() + name[1:] if lower_first else name)
    return ".".join(out)


def _fmt_value(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "'%s'" % str(v).lower()
    if isinstance(v, (int, float)):
        return "'%s'" % v
    s = str(v)
    if len(s) > 200:
        s = s[:200] + "..."
    return "'%s'" % s


def coral_constraint(issue):
    k, lim = issue.kind, issue.limit
    if k == "required":
        return "Member must not be null"
    if k == "max_length":
        return "Member must have length less than or equal to %s" % lim
    if k == "min_length":
        return "Member must have length greater than or equal to %s" % lim
    if k == "max_value":
        return "Member must have value less than or equal to %s" % lim
    if k == "min_value":
        return "Member must have value greater than or equal to %s" % lim
    if k == "enum":
        return "Member must satisfy enum value set: [%s]" % ", ".join(lim)
    if k == "pattern":
        return "Member must satisfy regular expression pattern: %s" % lim
    if k == "unknown":
        return ("Member is not part of the input shape in the service model "
                "(this test endpoint rejects unknown members)")
    return issue.message or "Member is not valid"


def coral_message(issues, root, lower_first=False):
    """'N validation error(s) detected: Value X at 'path' failed to satisfy constraint: ...'."""
    parts = []
    for i in issues:
        value = "null" if i.kind == "required" else _fmt_value(i.value)
        if i.kind in ("max_length", "min_length") and isinstance(i.value, (list, dict)):
            value = "'%s'" % (str(i.value)[:200] + ("..." if len(str(i.value)) > 200 else ""))
        if i.message and i.kind in ("format", "custom"):
            parts.append("Value %s at '%s' failed to satisfy constraint: %s"
                         % (value, coral_path(root, i.path, lower_first), i.message))
        else:
            parts.append("Value %s at '%s' failed to satisfy constraint: %s"
                         % (value, coral_path(root, i.path, lower_first), coral_constraint(i)))
    n = len(parts)
    return "%d validation error%s detected: %s" % (n, "" if n == 1 else "s", "; ".join(parts))
