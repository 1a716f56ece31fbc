"""Service models and per-service wire facts.

The models are the botocore service-2.json files copied into
tests/endpoint/models (see NOTICE.txt/SOURCE.txt there). They are loaded with
botocore's own Loader restricted to that folder, so the Debian botocore's
older bundled models are never used by mistake.
"""

import os
import re
import threading
import unicodedata

from botocore.loaders import Loader
from botocore.model import ServiceModel

MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")


class ServiceDef:
    """Static facts about one AWS service as this endpoint serves it."""

    def __init__(self, key, model, signing_name, protocols):
        self.key = key                      # our short name: cloudwatch, logs, xray, sts, sns
        self.model = model                  # botocore.model.ServiceModel
        self.signing_name = signing_name    # SigV4 credential-scope service
        self.protocols = protocols          # wire protocols we accept for it
        md = model.metadata
        self.api_version = md["apiVersion"]
        self.target_prefix = md.get("targetPrefix")
        self.json_version = md.get("jsonVersion")
        self.xml_namespace = md.get("xmlNamespace")
        self.query_compatible = "awsQueryCompatible" in md

    def operation(self, name):
        if name not in self.model.operation_names:
            return None
        return self.model.operation_model(name)

    def __repr__(self):
        return "ServiceDef(%s)" % self.key


# service key -> (model name, signing name, protocols accepted here)
_SERVICES = {
    "cloudwatch": ("cloudwatch", "monitoring", ("query", "json")),
    "logs": ("logs", "logs", ("json",)),
    "xray": ("xray", "xray", ("rest-json",)),
    "sts": ("sts", "sts", ("query",)),
    "sns": ("sns", "sns", ("query",)),
}


def load_services(models_dir=MODELS_DIR):
    """Load every service model from models_dir only (never botocore's data)."""
    loader = Loader(extra_search_paths=[models_dir], include_default_search_paths=False,
                    include_default_extras=False)
    services = {}
    for key, (model_name, signing, protocols) in _SERVICES.items():
        versions = loader.list_api_versions(model_name, "service-2")
        if len(versions) != 1:
            raise RuntimeError("expected exactly one %s model under %s, found %r"
                               % (model_name, models_dir, versions))
        data = loader.load_service_model(model_name, "service-2", versions[0])
        services[key] = ServiceDef(key, ServiceModel(data, service_name=model_name), signing, protocols)
    return services


# --------------------------------------------------------------------------
# Model "pattern" traits are Java/Smithy regular expressions. Python's re
# differs in two ways that matter for these models: it has no \p{..} classes
# and its \w \d \s are Unicode-aware unless re.ASCII is set (Java's are ASCII).

_pattern_cache = {}
_pattern_lock = threading.Lock()
_category_class = {}


_CLASS_NAMES = ("L", "Lu", "Ll", "N", "Nd", "P", "S", "Z")


def _unicode_class(name):
    """Character-class body (no brackets) for a Unicode general category."""
    with _pattern_lock:
        if not _category_class:
            _build_unicode_classes()
    return _category_class[name]


def _build_unicode_classes():
    ranges = {n: [] for n in _CLASS_NAMES}
    for cp in range(0x110000):
        cat = unicodedata.category(chr(cp))
        for name in (cat[0], cat):
            lst = ranges.get(name)
            if lst is None:
                continue
            if lst and lst[-1][1] == cp - 1:
                lst[-1][1] = cp
            else:
                lst.append([cp, cp])

    def esc(cp):
        return "\\U%08x" % cp

    for name, lst in ranges.items():
        _category_class[name] = "".join(
            esc(a) if a == b else "%s-%s" % (esc(a), esc(b)) for a, b in lst)


_PCLASS = re.compile(r"\\p\{([A-Za-z]+)\}")


def _translate_java_regex(pattern):
    def repl(m):
        name = m.group(1)
        if name in _CLASS_NAMES:
            return _unicode_class(name)
        raise ValueError("unsupported regex class \\p{%s}" % name)

    out = []
    pos = 0
    in_class = False
    i = 0
    # Replace \p{X} by its ranges; wrap in [...] when used outside a class.
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            m = _PCLASS.match(pattern, i)
            if m:
                out.append(pattern[pos:i])
                body = repl(m)
                out.append(body if in_class else "[" + body + "]")
                i = pos = m.end()
                continue
            i += 2
            continue
        if c == "[" and not in_class:
            in_class = True
        elif c == "]" and in_class:
            in_class = False
        i += 1
    out.append(pattern[pos:])
    return "".join(out)


def compiled_pattern(pattern):
    """Compile a model pattern with Java-like semantics; result is cached."""
    rx = _pattern_cache.get(pattern)
    if rx is None:
        rx = re.compile(_translate_java_regex(pattern), re.ASCII)
        _pattern_cache[pattern] = rx
    return rx


def pattern_matches(pattern, value):
    """The services match the whole value (Java Pattern.matches): CloudWatch
    Logs rejects 'C:/x' for logGroupName pattern [\\.\\-_/#A-Za-z0-9]+ although
    a substring search would succeed. So a full match is required."""
    return compiled_pattern(pattern).fullmatch(value) is not None
