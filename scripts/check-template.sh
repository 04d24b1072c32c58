#!/usr/bin/env bash
# Checks the SAM template and the sample events, offline (no AWS account, no network, dummy credentials):
#   1. sam validate                        SAM's own schema validation
#   2. sam validate --lint                 cfn-lint over the SAM template
#   3. expansion with samtranslator        (offline managed-policy loader) into plain CloudFormation
#   4. cfn-lint on the expanded template   every finding, warnings included, fails
#   5. project rules                       environment variables, least privilege, the settings the
#                                          deployment depends on, and every sample event's shape
#   6. self-test                           the checks in 3-5 must fail on known-bad copies
# Exit status non-zero on any finding. CUSTODY_TEMPLATE and CUSTODY_EVENTS_DIR check other files;
# --no-self-test skips step 6.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
template="${CUSTODY_TEMPLATE:-$root/template.yaml}"
events="${CUSTODY_EVENTS_DIR:-$root/samples/events}"
self_test=1
[ "${1:-}" = "--no-self-test" ] && self_test=0

"$root/scripts/install-sam-tools.sh"
venv="$root/.tools/sam-venv"

# Offline and deterministic: the developer's own AWS profile and credentials are never used.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=custody-template-check-dummy
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export SAM_CLI_TELEMETRY=0 SAM_CLI_DISABLE_TELEMETRY=1

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0

run() { # run NAME COMMAND... : prints the command's output only when it fails
  local name="$1"; shift
  if "$@" >"$work/out" 2>&1; then
    echo "ok    $name"
  else
    echo "FAIL  $name"
    sed 's/^/      /' "$work/out"
    failures=$((failures + 1))
  fi
}

# Steps 3 and 5 (and the expansion cfn-lint reads): expand TEMPLATE into EXPANDED, check rules and events.
project_checks() { # project_checks TEMPLATE EVENTS_DIR EXPANDED
  "$venv/bin/python" - "$@" <<'PY'
import hashlib, json, re, sys
from pathlib import Path
from urllib.parse import parse_qsl, unquote_plus

from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

template_path, events_dir, expanded_path = sys.argv[1:4]
findings = []

def finding(msg):
    findings.append(msg)

# ---------------------------------------------------------------- expansion (offline)

class BundledManagedPolicies(ManagedPolicyLoader):
    """Managed policy names resolved from the list bundled with samtranslator instead of IAM."""
    def __init__(self):
        super().__init__(iam_client=None)
    def load(self):
        import samtranslator
        path = Path(samtranslator.__file__).parent / "internal/data/aws_managed_policies.json"
        return json.loads(path.read_text())["aws"]

sam = yaml_parse(Path(template_path).read_text())
# As "sam package" would: a local CodeUri becomes an S3 location (after checking the crate is there).
for logical_id, res in sam.get("Resources", {}).items():
    code_uri = res.get("Properties", {}).get("CodeUri") if res.get("Type") == "AWS::Serverless::Function" else None
    if isinstance(code_uri, str) and not code_uri.startswith("s3://"):
        if not (Path(template_path).parent / code_uri / "Cargo.toml").is_file():
            finding(f"{logical_id}: CodeUri {code_uri} has no Cargo.toml next to the template")
        res["Properties"]["CodeUri"] = f"s3://custody-check-placeholder/{logical_id}.zip"
params = {  # the required parameters; all others keep their defaults
    "ExportBucketName": "genesys-exports-example",
    "SigningKeySecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:custody/ledger-signing-key-AbC123",
}
try:
    cfn = transform(json.loads(json.dumps(sam)), params, BundledManagedPolicies())
except Exception as exc:  # samtranslator raises InvalidDocumentException with every cause
    print(f"samtranslator could not expand {template_path}: {exc}")
    for cause in getattr(exc, "causes", []) or []:
        print(f"  - {cause.message}")
    sys.exit(1)
Path(expanded_path).write_text(json.dumps(cfn, indent=1))
resources = cfn.get("Resources", {})

# ---------------------------------------------------------------- environment variables

ALLOWED_ENV = {
    "CUSTODY_EXPORT_BUCKET", "CUSTODY_EXPORT_PREFIX", "CUSTODY_LEDGER", "CUSTODY_LEDGER_ORIGIN",
    "CUSTODY_HOLD_SELECT", "CUSTODY_HOLD_MARKING",
    "CUSTODY_MATTER", "CUSTODY_SIGNING_KEY_SECRET_ARN", "CUSTODY_COPY_MULTIPART_THRESHOLD", "RUST_LOG",
}
AUDITOR_NEEDS = {"CUSTODY_LEDGER", "CUSTODY_LEDGER_ORIGIN", "CUSTODY_EXPORT_BUCKET", "CUSTODY_EXPORT_PREFIX", "RUST_LOG"}

def function(logical_id):
    res = resources.get(logical_id)
    if not res or res.get("Type") != "AWS::Lambda::Function":
        finding(f"{logical_id}: no AWS::Lambda::Function of that name in the expanded template")
        return {}
    return res["Properties"]

def env_of(props):
    return set(props.get("Environment", {}).get("Variables", {}))

for logical_id, res in resources.items():
    if res.get("Type") == "AWS::Lambda::Function":
        for name in sorted(env_of(res["Properties"]) - ALLOWED_ENV):
            finding(f"{logical_id}: sets environment variable {name}, which the Rust code does not read")
tagger, auditor = function("TaggerFunction"), function("AuditorFunction")
if tagger:
    for name in sorted(ALLOWED_ENV - env_of(tagger)):
        finding(f"TaggerFunction: environment variable {name} is not set")
if auditor:
    for name in sorted(AUDITOR_NEEDS - env_of(auditor)):
        finding(f"AuditorFunction: environment variable {name} is not set")
    if "CUSTODY_SIGNING_KEY_SECRET_ARN" in env_of(auditor):
        finding("AuditorFunction: must not be given the signing key (CUSTODY_SIGNING_KEY_SECRET_ARN)")

# ---------------------------------------------------------------- settings the deployment depends on

for logical_id, binary in (("TaggerFunction", "custody-tagger"), ("AuditorFunction", "custody-auditor")):
    props = function(logical_id)
    if not props:
        continue
    for key, want in (("Runtime", "provided.al2023"), ("Handler", "bootstrap"), ("Architectures", ["arm64"]), ("MemorySize", 1769)):
        if props.get(key) != want:
            finding(f"{logical_id}: {key} is {props.get(key)!r}, expected {want!r}")
    meta = sam["Resources"].get(logical_id, {}).get("Metadata", {})
    if meta.get("BuildMethod") != "rust-cargolambda" or meta.get("BuildProperties", {}).get("Binary") != binary:
        finding(f"{logical_id}: Metadata must be BuildMethod rust-cargolambda with BuildProperties.Binary {binary}")

url = [r["Properties"] for r in resources.values() if r.get("Type") == "AWS::Lambda::Url"]
if len(url) != 1 or url[0].get("AuthType") != "AWS_IAM":
    finding("the auditor needs exactly one Function URL, with AuthType AWS_IAM")

esm = [r["Properties"] for r in resources.values() if r.get("Type") == "AWS::Lambda::EventSourceMapping"]
if len(esm) != 1 or "ReportBatchItemFailures" not in esm[0].get("FunctionResponseTypes", []):
    finding("the tagger needs one SQS event source mapping with ReportBatchItemFailures")

ledger = resources.get("LedgerBucket", {}).get("Properties", {})
lock = ledger.get("ObjectLockConfiguration", {})
if ledger.get("ObjectLockEnabled") is not True or lock.get("ObjectLockEnabled") != "Enabled":
    finding("LedgerBucket: Object Lock must be enabled")
if ledger.get("VersioningConfiguration", {}).get("Status") != "Enabled":
    finding("LedgerBucket: versioning must be enabled")
if sam.get("Parameters", {}).get("LedgerLockMode", {}).get("Default") != "COMPLIANCE":
    finding("LedgerLockMode must default to COMPLIANCE")
queue = resources.get("ExportEventsQueue", {}).get("Properties", {})
if "RedrivePolicy" not in queue:
    finding("ExportEventsQueue: needs a dead-letter queue (RedrivePolicy)")
elif tagger and queue.get("VisibilityTimeout", 0) < 6 * tagger.get("Timeout", 3):
    finding("ExportEventsQueue: VisibilityTimeout must be at least six times the tagger's Timeout")
for logical_id, res in resources.items():
    if res.get("Type") == "AWS::CloudWatch::Alarm" and not res["Properties"].get("AlarmActions"):
        finding(f"{logical_id}: alarm notifies nobody (no AlarmActions)")

# ---------------------------------------------------------------- least privilege

def statements(policy_document):
    stmts = policy_document.get("Statement", [])
    stmts = stmts if isinstance(stmts, list) else [stmts]
    out = []
    for s in stmts:  # conditional statements: both branches, minus AWS::NoValue
        if isinstance(s, dict) and "Fn::If" in s:
            out += [b for b in s["Fn::If"][1:] if isinstance(b, dict) and b != {"Ref": "AWS::NoValue"}]
        else:
            out.append(s)
    return out

def as_list(v):
    return v if isinstance(v, list) else [v]

WRITE = re.compile(r"^(s3:(Put|Delete|Abort|Restore|Replicate|Bypass)|secretsmanager:|kms:(Encrypt|GenerateDataKey))")
for role_id in ("TaggerRole", "AuditorRole", "BatchOperationsRole"):
    role = resources.get(role_id)
    if not role:
        finding(f"{role_id}: missing")
        continue
    if role["Properties"].get("ManagedPolicyArns"):
        finding(f"{role_id}: attaches managed policies; every permission must be spelled out and scoped")
    for policy in role["Properties"].get("Policies", []):
        for s in statements(policy["PolicyDocument"]):
            sid = s.get("Sid", "?")
            if s.get("Effect") != "Allow":
                continue
            for action in as_list(s.get("Action", [])):
                if "*" in action:
                    finding(f"{role_id}/{sid}: wildcard action {action}")
                if role_id == "AuditorRole" and WRITE.match(action):
                    finding(f"{role_id}/{sid}: the auditor must be read-only, but is granted {action}")
            for resource in as_list(s.get("Resource", [])):
                if resource == "*":
                    finding(f"{role_id}/{sid}: Resource is *")

# ---------------------------------------------------------------- sample events

BUCKET = "genesys-exports-example"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
EXPORT_KEY = re.compile(rf"^{UUID}/year=\d{{4}}/month=\d\d/day=\d\d/hour=\d\d/conversation_id={UUID}/[^/]+$")
TRIGGER_SUFFIXES = ("_metadata.json", ".custody-manifest.json")

def check_encoded_key(where, raw, must_trigger):
    """Keys arrive URL-encoded: "=" as %3D, a space as "+"; decoding is "+" first, then %XX."""
    if " " in raw or "=" in raw:
        finding(f"{where}: key {raw!r} is not URL-encoded as S3 sends it (raw space or '=')")
    key = unquote_plus(raw)
    if must_trigger and not key.endswith(TRIGGER_SUFFIXES):
        finding(f"{where}: key {key!r} does not end in {' or '.join(TRIGGER_SUFFIXES)}, so no notification would fire")
    if "/manifests/" not in key and not EXPORT_KEY.match(key):
        finding(f"{where}: key {key!r} does not follow the Genesys export layout")

def check_s3_notification(where, event):
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        return finding(f"{where}: S3 notification without Records")
    for i, r in enumerate(records):
        w = f"{where}: Records[{i}]"
        if r.get("eventSource") != "aws:s3" or not str(r.get("eventName", "")).startswith("ObjectCreated:"):
            finding(f"{w}: not an aws:s3 ObjectCreated record")
        if r.get("eventName") == "ObjectCreated:Copy":
            finding(f"{w}: Copy events are not routed to the tagger (it copies objects onto themselves)")
        s3 = r.get("s3", {})
        bucket, obj = s3.get("bucket", {}), s3.get("object", {})
        if bucket.get("name") != BUCKET or bucket.get("arn") != f"arn:aws:s3:::{BUCKET}":
            finding(f"{w}: bucket must be {BUCKET} (name and arn)")
        if not isinstance(obj.get("size"), int) or not re.fullmatch(r"[0-9a-f]{32}(-\d+)?", str(obj.get("eTag", ""))):
            finding(f"{w}: object needs an integer size and an S3 eTag")
        if not obj.get("versionId") or not re.fullmatch(r"[0-9A-F]+", str(obj.get("sequencer", ""))):
            finding(f"{w}: object needs a versionId (pinned version) and a hex sequencer")
        check_encoded_key(w, str(obj.get("key", "")), must_trigger=True)

def check_sqs(where, event):
    for i, r in enumerate(event.get("Records", [])):
        w = f"{where}: Records[{i}]"
        body = r.get("body", "")
        if r.get("eventSource") != "aws:sqs" or not str(r.get("eventSourceARN", "")).startswith("arn:aws:sqs:"):
            finding(f"{w}: not an aws:sqs record")
        if r.get("md5OfBody") != hashlib.md5(body.encode()).hexdigest():
            finding(f"{w}: md5OfBody does not match the body")
        try:
            inner = json.loads(body)
        except ValueError as exc:
            finding(f"{w}: body is not JSON ({exc})")
            continue
        if inner.get("Event") == "s3:TestEvent":
            if inner.get("Bucket") != BUCKET:
                finding(f"{w}: s3:TestEvent for bucket {inner.get('Bucket')!r}, expected {BUCKET}")
        else:
            check_s3_notification(f"{w}.body", inner)

def check_batch(where, event):
    if event.get("invocationSchemaVersion") != "2.0":
        finding(f"{where}: S3 Batch Operations events must use invocationSchemaVersion 2.0")
    job = event.get("job", {})
    args = job.get("userArguments")
    if not re.fullmatch(UUID, str(job.get("id", ""))) or not isinstance(args, dict) or not args:
        finding(f"{where}: job needs a UUID id and userArguments")
    elif len(args) > 10 or any(not (1 <= len(k) <= 64) or not isinstance(v, str) or len(v) > 1024 for k, v in args.items()):
        finding(f"{where}: userArguments allow at most 10 string entries, keys 1-64 and values up to 1024 characters")
    tasks = event.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        return finding(f"{where}: no tasks")
    for i, t in enumerate(tasks):
        w = f"{where}: tasks[{i}]"
        if "s3BucketArn" in t or t.get("s3Bucket") != BUCKET or not t.get("taskId"):
            finding(f"{w}: schema 2.0 tasks carry taskId and s3Bucket ({BUCKET}), not s3BucketArn")
        if "s3VersionId" not in t or not (t["s3VersionId"] is None or isinstance(t["s3VersionId"], str)):
            finding(f"{w}: s3VersionId must be present, a string or null")
        check_encoded_key(w, str(t.get("s3Key", "")), must_trigger=False)

def check_function_url(where, event):
    ctx = event.get("requestContext", {})
    http = ctx.get("http", {})
    if event.get("version") != "2.0" or not isinstance(event.get("isBase64Encoded"), bool):
        finding(f"{where}: Function URL events are payload version 2.0 with isBase64Encoded")
    if http.get("path") != event.get("rawPath") or http.get("method") not in ("GET", "POST"):
        finding(f"{where}: requestContext.http must repeat rawPath and carry the method")
    if not isinstance(ctx.get("timeEpoch"), int):
        finding(f"{where}: requestContext.timeEpoch must be an integer")
    if not ctx.get("authorizer", {}).get("iam", {}).get("userArn"):
        finding(f"{where}: an AWS_IAM Function URL event carries requestContext.authorizer.iam")
    parsed = dict(parse_qsl(event.get("rawQueryString", "")))
    if parsed != (event.get("queryStringParameters") or {}):
        finding(f"{where}: queryStringParameters do not match rawQueryString")

def strict_json(path):
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise ValueError(f"duplicate keys {sorted(dup)}")
        return dict(pairs)
    return json.loads(path.read_text(), object_pairs_hook=no_duplicates)

samples = sorted(Path(events_dir).glob("*"))
if not any(p.suffix == ".json" for p in samples):
    finding(f"{events_dir}: no sample events")
kinds = set()
for path in samples:
    where = str(path.relative_to(Path(events_dir).parent.parent)) if path.is_absolute() else str(path)
    if path.suffix != ".json":
        finding(f"{where}: sample events must be .json files")
        continue
    try:
        event = strict_json(path)
    except ValueError as exc:
        finding(f"{where}: not valid JSON: {exc}")
        continue
    records = event.get("Records") if isinstance(event, dict) else None
    if isinstance(records, list) and records and records[0].get("eventSource") == "aws:s3":
        kinds.add("s3"); check_s3_notification(where, event)
    elif isinstance(records, list) and records and records[0].get("eventSource") == "aws:sqs":
        kinds.add("sqs"); check_sqs(where, event)
    elif isinstance(event, dict) and "invocationSchemaVersion" in event:
        kinds.add("batch"); check_batch(where, event)
    elif isinstance(event, dict) and "requestContext" in event and "rawPath" in event:
        kinds.add("function-url"); check_function_url(where, event)
    else:
        finding(f"{where}: not an S3, SQS, S3 Batch Operations or Function URL event")
for kind in sorted({"s3", "sqs", "batch", "function-url"} - kinds):
    finding(f"{events_dir}: no {kind} sample event")

for f in findings:
    print(f)
print(f"{len(findings)} finding(s) in {template_path} and {events_dir}")
sys.exit(1 if findings else 0)
PY
}

cfn_lint_expanded() { # cfn_lint_expanded TEMPLATE EVENTS_DIR: expands, then lints the result
  local expanded="$work/expanded-$RANDOM.json"
  project_checks "$1" "$2" "$expanded" >"$work/project-out" 2>&1 || true
  [ -s "$expanded" ] || { cat "$work/project-out"; return 1; }
  "$venv/bin/cfn-lint" --format parseable -- "$expanded"
}

run "sam validate" "$venv/bin/sam" validate --template-file "$template" --region us-east-1
run "sam validate --lint" "$venv/bin/sam" validate --lint --template-file "$template" --region us-east-1
run "cfn-lint (SAM template)" "$venv/bin/cfn-lint" --format parseable -- "$template"
run "expansion + project rules + sample events" project_checks "$template" "$events" "$work/expanded.json"
if [ -s "$work/expanded.json" ]; then
  run "cfn-lint (expanded CloudFormation)" "$venv/bin/cfn-lint" --format parseable -- "$work/expanded.json"
fi

if [ "$self_test" = 1 ]; then
  # Each known-bad copy must make exactly the check meant for it fail.
  bad="$work/bad"
  mkdir -p "$bad/events"
  cp "$events"/*.json "$bad/events/"
  expect_failure() { # expect_failure NAME PATTERN COMMAND...: must fail, saying PATTERN
    local name="$1" pattern="$2"; shift 2
    if "$@" >"$work/self-test-out" 2>&1; then
      echo "FAIL  self-test: $name was not detected"
      failures=$((failures + 1))
    elif ! grep -q -- "$pattern" "$work/self-test-out"; then
      echo "FAIL  self-test: $name failed for another reason:"
      sed 's/^/      /' "$work/self-test-out"
      failures=$((failures + 1))
    else
      echo "ok    self-test: $name is detected"
    fi
  }
  sed 's/^\(        RUST_LOG: !Ref LogLevel\)$/\1\n        CUSTODY_UNKNOWN: "1"/' "$template" >"$bad/extra-env.yaml"
  expect_failure "an unknown environment variable" "CUSTODY_UNKNOWN, which the Rust code does not read" project_checks "$bad/extra-env.yaml" "$events" "$work/x.json"
  sed 's/^\(      Timeout: \)900$/\11000/' "$template" >"$bad/timeout.yaml"
  expect_failure "a Lambda timeout above 900 s (cfn-lint on the expansion)" "is greater than the maximum of 900" cfn_lint_expanded "$bad/timeout.yaml" "$events"
  sed 's/\[s3:GetBucketVersioning, s3:GetBucketObjectLockConfiguration\]$/[s3:GetBucketVersioning, "s3:Put*"]/' \
    "$template" >"$bad/wildcard.yaml"
  expect_failure "a wildcard or write action in an IAM role" "wildcard action s3:Put\\*" project_checks "$bad/wildcard.yaml" "$events" "$work/x.json"
  printf '{"Records": [' >"$bad/events/broken.json"
  expect_failure "a sample event that is not JSON" "broken.json: not valid JSON" project_checks "$template" "$bad/events" "$work/x.json"
  rm "$bad/events/broken.json"
  sed 's/%3D/=/g' "$events/s3-put-metadata.json" >"$bad/events/s3-put-metadata.json"
  expect_failure "an S3 event key that is not URL-encoded" "s3-put-metadata.json: Records\\[0\\]: key .* is not URL-encoded" project_checks "$template" "$bad/events" "$work/x.json"
fi

if [ "$failures" -ne 0 ]; then
  echo "check-template: $failures check(s) failed"
  exit 1
fi
echo "check-template: all checks passed"
