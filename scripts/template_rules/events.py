"""Every sample event in samples/events has a shape AWS sends, names the sample bucket, and encodes
keys as S3 does ("=" as %3D, a space as "+"). Shapes: S3 notification; SQS whose body is an S3
notification, an SNS envelope of one, an EventBridge event or an s3:TestEvent; EventBridge
"Object Created"; s3:TestEvent; S3 Batch Operations 1.0 and 2.0; Function URL (payload 2.0)."""

import hashlib
import json
import re
from pathlib import Path
from urllib.parse import parse_qsl, unquote_plus

BUCKET = "genesys-exports-example"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
EXPORT_KEY = re.compile(rf"^{UUID}/year=\d{{4}}/month=\d\d/day=\d\d/hour=\d\d/conversation_id={UUID}/[^/]+$")
TRIGGER_SUFFIXES = ("_metadata.json", ".custody-manifest.json")
# Every kind the tagger and auditor are tested with; each needs at least one sample.
KINDS = {"s3", "sqs", "sqs-sns", "sqs-eventbridge", "eventbridge", "test-event", "batch-1.0", "batch-2.0",
         "function-url"}


class EventRules:
    def __init__(self, finding):
        self.finding = finding
        self.kinds = set()

    def encoded_key(self, where, raw, must_trigger):
        """Keys arrive URL-encoded: "=" as %3D, a space as "+"; decoding is "+" first, then %XX."""
        if " " in raw or "=" in raw:
            self.finding(f"{where}: key {raw!r} is not URL-encoded as S3 sends it (raw space or '=')")
        key = unquote_plus(raw)
        if must_trigger and not key.endswith(TRIGGER_SUFFIXES):
            self.finding(f"{where}: key {key!r} does not end in {' or '.join(TRIGGER_SUFFIXES)}, so no notification would fire")
        if "/manifests/" not in key and not EXPORT_KEY.match(key):
            self.finding(f"{where}: key {key!r} does not follow the Genesys export layout")

    def s3_notification(self, where, event):
        records = event.get("Records")
        if not isinstance(records, list) or not records:
            return self.finding(f"{where}: S3 notification without Records")
        for i, r in enumerate(records):
            w = f"{where}: Records[{i}]"
            if r.get("eventSource") != "aws:s3" or not str(r.get("eventName", "")).startswith("ObjectCreated:"):
                self.finding(f"{w}: not an aws:s3 ObjectCreated record")
            if r.get("eventName") == "ObjectCreated:Copy":
                self.finding(f"{w}: Copy events are not routed to the tagger (it copies objects onto themselves)")
            s3 = r.get("s3", {})
            bucket, obj = s3.get("bucket", {}), s3.get("object", {})
            if bucket.get("name") != BUCKET or bucket.get("arn") != f"arn:aws:s3:::{BUCKET}":
                self.finding(f"{w}: bucket must be {BUCKET} (name and arn)")
            if not isinstance(obj.get("size"), int) or not re.fullmatch(r"[0-9a-f]{32}(-\d+)?", str(obj.get("eTag", ""))):
                self.finding(f"{w}: object needs an integer size and an S3 eTag")
            if not obj.get("versionId") or not re.fullmatch(r"[0-9A-F]+", str(obj.get("sequencer", ""))):
                self.finding(f"{w}: object needs a versionId (pinned version) and a hex sequencer")
            self.encoded_key(w, str(obj.get("key", "")), must_trigger=True)

    def eventbridge(self, where, event):
        if event.get("source") != "aws.s3" or event.get("detail-type") != "Object Created":
            return self.finding(f"{where}: EventBridge samples are aws.s3 Object Created events")
        detail = event.get("detail", {})
        obj = detail.get("object", {})
        if detail.get("bucket", {}).get("name") != BUCKET or event.get("resources") != [f"arn:aws:s3:::{BUCKET}"]:
            self.finding(f"{where}: bucket must be {BUCKET} (detail.bucket.name and resources)")
        if detail.get("reason") not in ("PutObject", "POST Object", "CompleteMultipartUpload"):
            self.finding(f"{where}: detail.reason {detail.get('reason')!r} is not one the rule forwards")
        if not obj.get("version-id") or not isinstance(obj.get("size"), int):
            self.finding(f"{where}: detail.object needs version-id (pinned version) and an integer size")
        self.encoded_key(where, str(obj.get("key", "")), must_trigger=True)

    def test_event(self, where, event):
        if event.get("Bucket") != BUCKET or event.get("Service") != "Amazon S3":
            self.finding(f"{where}: s3:TestEvent for bucket {event.get('Bucket')!r}, expected {BUCKET}")

    def sqs(self, where, event):
        for i, r in enumerate(event.get("Records", [])):
            w = f"{where}: Records[{i}]"
            body = r.get("body", "")
            if r.get("eventSource") != "aws:sqs" or not str(r.get("eventSourceARN", "")).startswith("arn:aws:sqs:"):
                self.finding(f"{w}: not an aws:sqs record")
            if not r.get("messageId"):
                self.finding(f"{w}: no messageId (batch item failures name it)")
            if r.get("md5OfBody") != hashlib.md5(body.encode()).hexdigest():
                self.finding(f"{w}: md5OfBody does not match the body")
            try:
                inner = json.loads(body)
            except ValueError as exc:
                self.finding(f"{w}: body is not JSON ({exc})")
                continue
            if not isinstance(inner, dict):
                self.finding(f"{w}: body is not a JSON object")
            elif inner.get("Event") == "s3:TestEvent":
                self.test_event(f"{w}.body", inner)
            elif inner.get("Type") == "Notification":
                self.kinds.add("sqs-sns")
                try:
                    self.s3_notification(f"{w}.body.Message", json.loads(inner.get("Message", "")))
                except ValueError as exc:
                    self.finding(f"{w}.body.Message: not JSON ({exc})")
            elif "detail-type" in inner:
                self.kinds.add("sqs-eventbridge")
                self.eventbridge(f"{w}.body", inner)
            elif "Records" in inner:
                self.s3_notification(f"{w}.body", inner)
            elif "unparseable" not in where:
                self.finding(f"{w}: body is no event shape (only samples named *unparseable* may hold one)")

    def batch(self, where, event):
        version = event.get("invocationSchemaVersion")
        if version not in ("1.0", "2.0"):
            return self.finding(f"{where}: S3 Batch Operations events use invocationSchemaVersion 1.0 or 2.0")
        self.kinds.add(f"batch-{version}")
        job = event.get("job", {})
        if not re.fullmatch(UUID, str(job.get("id", ""))):
            self.finding(f"{where}: job needs a UUID id")
        args = job.get("userArguments")
        if version == "2.0":
            if not isinstance(args, dict) or not args:
                self.finding(f"{where}: schema 2.0 jobs carry userArguments")
            elif len(args) > 10 or any(not (1 <= len(k) <= 64) or not isinstance(v, str) or len(v) > 1024 for k, v in args.items()):
                self.finding(f"{where}: userArguments allow at most 10 string entries, keys 1-64 and values up to 1024 characters")
        elif args is not None:
            self.finding(f"{where}: schema 1.0 jobs have no userArguments")
        tasks = event.get("tasks")
        if not isinstance(tasks, list) or not tasks:
            return self.finding(f"{where}: no tasks")
        for i, t in enumerate(tasks):
            w = f"{where}: tasks[{i}]"
            if not t.get("taskId"):
                self.finding(f"{w}: no taskId")
            if version == "2.0" and ("s3BucketArn" in t or t.get("s3Bucket") != BUCKET):
                self.finding(f"{w}: schema 2.0 tasks carry s3Bucket ({BUCKET}), not s3BucketArn")
            if version == "1.0" and ("s3Bucket" in t or t.get("s3BucketArn") != f"arn:aws:s3:::{BUCKET}"):
                self.finding(f"{w}: schema 1.0 tasks carry s3BucketArn (arn:aws:s3:::{BUCKET}), not s3Bucket")
            if "s3VersionId" not in t or not (t["s3VersionId"] is None or isinstance(t["s3VersionId"], str)):
                self.finding(f"{w}: s3VersionId must be present, a string or null")
            self.encoded_key(w, str(t.get("s3Key", "")), must_trigger=False)

    def function_url(self, where, event):
        ctx = event.get("requestContext", {})
        http = ctx.get("http", {})
        if event.get("version") != "2.0" or not isinstance(event.get("isBase64Encoded"), bool):
            self.finding(f"{where}: Function URL events are payload version 2.0 with isBase64Encoded")
        if http.get("path") != event.get("rawPath") or http.get("method") not in ("GET", "POST"):
            self.finding(f"{where}: requestContext.http must repeat rawPath and carry the method")
        if not isinstance(ctx.get("timeEpoch"), int):
            self.finding(f"{where}: requestContext.timeEpoch must be an integer")
        if not ctx.get("authorizer", {}).get("iam", {}).get("userArn"):
            self.finding(f"{where}: an AWS_IAM Function URL event carries requestContext.authorizer.iam")
        if "rawQueryString" not in event:
            self.finding(f"{where}: every Function URL event carries rawQueryString")
        # queryStringParameters is absent when a client sends none; when present it must agree.
        if "queryStringParameters" in event:
            parsed = dict(parse_qsl(event.get("rawQueryString", "")))
            if parsed != (event.get("queryStringParameters") or {}):
                self.finding(f"{where}: queryStringParameters do not match rawQueryString")

    def event(self, where, event):
        records = event.get("Records") if isinstance(event, dict) else None
        if isinstance(records, list) and records and records[0].get("eventSource") == "aws:s3":
            self.kinds.add("s3")
            self.s3_notification(where, event)
        elif isinstance(records, list) and records and records[0].get("eventSource") == "aws:sqs":
            self.kinds.add("sqs")
            self.sqs(where, event)
        elif isinstance(event, dict) and "invocationSchemaVersion" in event:
            self.batch(where, event)
        elif isinstance(event, dict) and "detail-type" in event:
            self.kinds.add("eventbridge")
            self.eventbridge(where, event)
        elif isinstance(event, dict) and event.get("Event") == "s3:TestEvent":
            self.kinds.add("test-event")
            self.test_event(where, event)
        elif isinstance(event, dict) and "requestContext" in event and "rawPath" in event:
            self.kinds.add("function-url")
            self.function_url(where, event)
        else:
            self.finding(f"{where}: not an S3, SQS, EventBridge, s3:TestEvent, Batch Operations or Function URL event")


def strict_json(path):
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise ValueError(f"duplicate keys {sorted(dup)}")
        return dict(pairs)

    return json.loads(Path(path).read_text(), object_pairs_hook=no_duplicates)


def check(events_dir, finding):
    rules = EventRules(finding)
    samples = sorted(Path(events_dir).glob("*"))
    if not any(p.suffix == ".json" for p in samples):
        finding(f"{events_dir}: no sample events")
    for path in samples:
        where = path.name
        if path.suffix != ".json":
            finding(f"{where}: sample events must be .json files")
            continue
        try:
            event = strict_json(path)
        except ValueError as exc:
            finding(f"{where}: not valid JSON: {exc}")
            continue
        rules.event(where, event)
    for kind in sorted(KINDS - rules.kinds):
        finding(f"{events_dir}: no {kind} sample event")
