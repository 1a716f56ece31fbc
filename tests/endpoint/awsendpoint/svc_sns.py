"""SNS (query): CreateTopic (test setup) and Publish (alarm actions).

Rules from the SNS API reference: topic names are 1-256 ASCII letters,
digits, '_' and '-' (FIFO topics end in '.fifo'); Publish takes exactly one of
TopicArn / TargetArn / PhoneNumber; the message is non-empty and at most
256 KB (262,144 bytes, UTF-8); Subject is at most 100 characters of printable
ASCII without line breaks; with MessageStructure=json the message must be a
JSON object with a "default" entry. Unknown topic -> NotFound (404).
"""

import json
import re
import uuid

from .errors import AwsError

TOPIC_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,256}\Z")
MAX_MESSAGE_BYTES = 262144


def _invalid(what):
    return AwsError("InvalidParameter", "Invalid parameter: %s" % what, 400)


def topic_arn(region, account, name):
    return "arn:aws:sns:%s:%s:%s" % (region, account, name)


def create_topic(call):
    p = call.params
    name = p["Name"]
    attrs = p.get("Attributes") or {}
    fifo = attrs.get("FifoTopic") == "true"
    base = name[:-5] if fifo and name.endswith(".fifo") else name
    if not TOPIC_NAME_RE.match(base) or (fifo and not name.endswith(".fifo")) or len(name) > 256:
        raise _invalid("Topic Name")
    arn = topic_arn(call.region, call.account, name)
    store = call.app.store
    with store.lock:
        store.topics.setdefault(arn, {"TopicArn": arn, "Name": name, "Attributes": attrs,
                                      "created_at": call.now})
    return {"TopicArn": arn}


def publish(call):
    p = call.params
    targets = [k for k in ("TopicArn", "TargetArn", "PhoneNumber") if p.get(k)]
    if len(targets) != 1:
        raise _invalid("TopicArn or TargetArn Reason: exactly one of TopicArn, TargetArn or PhoneNumber "
                       "must be specified")
    if targets[0] != "TopicArn":
        raise AwsError("InvalidParameter", "Invalid parameter: %s (only topics are supported by the Osprey "
                       "test endpoint)" % targets[0], 400)
    message = p["Message"]
    if message == "":
        raise _invalid("Empty message")
    if len(message.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES:
        raise _invalid("Message too long")
    subject = p.get("Subject")
    if subject is not None:
        if subject == "" or len(subject) > 100 or any(not 32 <= ord(c) < 127 for c in subject):
            raise _invalid("Subject")
    if p.get("MessageStructure") is not None:
        if p["MessageStructure"] != "json":
            raise _invalid("MessageStructure")
        try:
            doc = json.loads(message)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or "default" not in doc:
            raise _invalid("Message Structure - No default entry in JSON message body")
    store = call.app.store
    with store.lock:
        if p["TopicArn"] not in store.topics:
            raise AwsError("NotFound", "Topic does not exist", 404)
        mid = str(uuid.uuid4())
        attrs = {}
        for k, v in (p.get("MessageAttributes") or {}).items():
            attrs[k] = {kk: (vv.decode("latin-1") if isinstance(vv, bytes) else vv) for kk, vv in v.items()}
        store.sns_messages.append({"TopicArn": p["TopicArn"], "Message": message, "Subject": subject,
                                   "MessageStructure": p.get("MessageStructure"), "MessageAttributes": attrs,
                                   "MessageId": mid, "request_id": call.request_id, "received_at": call.now})
    return {"MessageId": mid}


HANDLERS = {"CreateTopic": create_topic, "Publish": publish}
