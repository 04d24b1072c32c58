"""One test per rule: on a copy of the real template (expanded once) or of the real sample events,
break exactly one thing and see exactly that rule fail; the untouched copies pass every rule.

Run: .tools/sam-venv/bin/python -m unittest discover -s scripts -p 'test_rules.py' -t scripts
(scripts/check-template.sh does)."""

import copy
import json
import shutil
import tempfile
import unittest
from pathlib import Path

from . import deployment, env_vars, events, privilege
from .__main__ import PARAMS
from .expand import expand

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "samples/events"
ENV_SPECS = [ROOT / "functions/tagger/env-vars.json", ROOT / "functions/sequencer/env-vars.json",
             ROOT / "functions/auditor/env-vars.json"]

_expanded = {}


def expanded():
    if not _expanded:
        findings = []
        sam, cfn = expand(TEMPLATE, PARAMS, findings.append)
        assert cfn is not None and not findings, findings
        _expanded["sam"], _expanded["cfn"] = sam, cfn
    return copy.deepcopy(_expanded["sam"]), copy.deepcopy(_expanded["cfn"])


def template_findings(sam, cfn):
    findings = []
    resources = cfn["Resources"]
    env_vars.check(resources, env_vars.load_specs(ENV_SPECS), findings.append)
    deployment.check(sam, resources, findings.append)
    privilege.check(resources, findings.append)
    return findings


def statement(cfn, role, sid):
    for policy in cfn["Resources"][role]["Properties"]["Policies"]:
        for s in privilege.statements(policy["PolicyDocument"]):
            if s.get("Sid") == sid:
                return s
    raise KeyError(f"{role}/{sid}")


class TemplateRules(unittest.TestCase):
    def assert_only(self, sam, cfn, fragment):
        findings = template_findings(sam, cfn)
        self.assertEqual(len(findings), 1, findings)
        self.assertIn(fragment, findings[0])

    def test_the_template_passes_every_rule(self):
        self.assertEqual(template_findings(*expanded()), [])

    def test_an_env_var_the_code_does_not_read(self):
        sam, cfn = expanded()
        cfn["Resources"]["TaggerFunction"]["Properties"]["Environment"]["Variables"]["CUSTODY_UNKNOWN"] = "1"
        self.assert_only(sam, cfn, "CUSTODY_UNKNOWN, which the Rust code does not read")

    def test_a_required_env_var_missing(self):
        sam, cfn = expanded()
        del cfn["Resources"]["AuditorFunction"]["Properties"]["Environment"]["Variables"]["CUSTODY_TRUSTED_KEYS"]
        self.assert_only(sam, cfn, "AuditorFunction: environment variable CUSTODY_TRUSTED_KEYS is not set")

    def test_a_local_only_env_var(self):
        sam, cfn = expanded()
        cfn["Resources"]["TaggerFunction"]["Properties"]["Environment"]["Variables"]["CUSTODY_S3_ENDPOINT"] = "http://x"
        self.assert_only(sam, cfn, "CUSTODY_S3_ENDPOINT, which is for local runs only")

    def test_the_auditor_given_the_signing_key(self):
        sam, cfn = expanded()
        cfn["Resources"]["AuditorFunction"]["Properties"]["Environment"]["Variables"]["CUSTODY_SIGNING_KEY_SECRET_ARN"] = "x"
        findings = template_findings(sam, cfn)
        self.assertTrue(any("must not be given the signing key" in f for f in findings), findings)

    def test_the_tagger_given_the_signing_key(self):
        sam, cfn = expanded()
        cfn["Resources"]["TaggerFunction"]["Properties"]["Environment"]["Variables"]["CUSTODY_SIGNING_KEY_SECRET_ARN"] = "x"
        findings = template_findings(sam, cfn)
        self.assertTrue(any("TaggerFunction: must not be given the signing key" in f for f in findings), findings)

    def test_the_wrong_runtime(self):
        sam, cfn = expanded()
        cfn["Resources"]["TaggerFunction"]["Properties"]["Runtime"] = "provided.al2"
        self.assert_only(sam, cfn, "TaggerFunction: Runtime is 'provided.al2'")

    def test_no_reserved_concurrency_on_the_auditor(self):
        sam, cfn = expanded()
        del cfn["Resources"]["AuditorFunction"]["Properties"]["ReservedConcurrentExecutions"]
        self.assert_only(sam, cfn, "AuditorFunction: needs ReservedConcurrentExecutions")

    def test_no_partial_batch_failures(self):
        sam, cfn = expanded()
        for res in cfn["Resources"].values():
            if res["Type"] == "AWS::Lambda::EventSourceMapping":
                res["Properties"]["FunctionResponseTypes"] = []
        self.assert_only(sam, cfn, "ReportBatchItemFailures")

    def test_a_ledger_without_object_lock(self):
        sam, cfn = expanded()
        cfn["Resources"]["LedgerBucket"]["Properties"]["ObjectLockEnabled"] = False
        self.assert_only(sam, cfn, "LedgerBucket: Object Lock must be enabled")

    def test_a_short_visibility_timeout(self):
        sam, cfn = expanded()
        cfn["Resources"]["ExportEventsQueue"]["Properties"]["VisibilityTimeout"] = 900
        self.assert_only(sam, cfn, "VisibilityTimeout must be at least six times")

    def test_no_eventbridge_rule_for_an_existing_bucket(self):
        sam, cfn = expanded()
        del cfn["Resources"]["ExportObjectCreatedRule"]
        self.assert_only(sam, cfn, "ExportObjectCreatedRule: an existing export bucket needs an EventBridge rule")

    def test_a_rule_that_forwards_the_taggers_own_copies(self):
        sam, cfn = expanded()
        cfn["Resources"]["ExportObjectCreatedRule"]["Properties"]["EventPattern"]["detail"]["reason"].append("CopyObject")
        self.assert_only(sam, cfn, "must leave out CopyObject")

    def test_eventbridge_allowed_from_another_rule(self):
        sam, cfn = expanded()
        policy = cfn["Resources"]["ExportEventsQueuePolicy"]["Properties"]["PolicyDocument"]
        for s in policy["Statement"]:
            if isinstance(s, dict) and "Fn::If" in s:
                for branch in s["Fn::If"][1:]:
                    if branch.get("Principal", {}).get("Service") == "events.amazonaws.com":
                        branch["Condition"]["ArnEquals"]["aws:SourceArn"] = "arn:aws:events:*:*:rule/*"
        self.assert_only(sam, cfn, "EventBridge may send only from ExportObjectCreatedRule")

    def test_an_alarm_that_notifies_nobody(self):
        sam, cfn = expanded()
        cfn["Resources"]["TaggerThrottlesAlarm"]["Properties"]["AlarmActions"] = []
        self.assert_only(sam, cfn, "TaggerThrottlesAlarm: alarm notifies nobody")

    def test_no_alarm_on_findings(self):
        sam, cfn = expanded()
        del cfn["Resources"]["TaggerFindingsAlarm"]
        self.assert_only(sam, cfn, "no alarm on Findings")

    def test_a_wildcard_action(self):
        sam, cfn = expanded()
        statement(cfn, "TaggerRole", "ListLedger")["Action"] = "s3:List*"
        self.assert_only(sam, cfn, "TaggerRole/ListLedger: wildcard action s3:List*")

    def test_resource_star(self):
        sam, cfn = expanded()
        statement(cfn, "SequencerRole", "ReadSigningKey")["Resource"] = "*"
        self.assert_only(sam, cfn, "SequencerRole/ReadSigningKey: Resource is *")

    def test_the_tagger_granted_the_signing_key(self):
        sam, cfn = expanded()
        read_key = dict(statement(cfn, "SequencerRole", "ReadSigningKey"))
        cfn["Resources"]["TaggerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(read_key)
        self.assert_only(sam, cfn, "TaggerRole/ReadSigningKey: the tagger only submits and never signs")

    def test_a_write_granted_to_the_auditor(self):
        sam, cfn = expanded()
        statement(cfn, "AuditorRole", "ReadLedger")["Action"] = ["s3:GetObject", "s3:PutObject"]
        self.assert_only(sam, cfn, "the auditor must be read-only, but is granted s3:PutObject")

    def test_an_action_the_code_never_calls(self):
        sam, cfn = expanded()
        statement(cfn, "TaggerRole", "ExportEventsQueue")["Action"].append("sqs:ChangeMessageVisibility")
        self.assert_only(sam, cfn, "grants sqs:ChangeMessageVisibility, which the code never calls")

    def test_the_auditor_granted_the_export_bucket(self):
        sam, cfn = expanded()
        statement(cfn, "AuditorRole", "ReadLedger")["Resource"] = [
            statement(cfn, "AuditorRole", "ReadLedger")["Resource"],
            {"Fn::Sub": "arn:${AWS::Partition}:s3:::${ExportBucketName}/*"},
        ]
        self.assert_only(sam, cfn, "the auditor reads the ledger only, but is granted the export bucket")

    def test_managed_policies(self):
        sam, cfn = expanded()
        cfn["Resources"]["TaggerRole"]["Properties"]["ManagedPolicyArns"] = ["arn:aws:iam::aws:policy/AmazonS3FullAccess"]
        self.assert_only(sam, cfn, "TaggerRole: attaches managed policies")


class EventRules(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp())
        for p in EVENTS.glob("*.json"):
            shutil.copy(p, self.dir / p.name)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def findings(self):
        out = []
        events.check(self.dir, out.append)
        return out

    def edit(self, name, change):
        path = self.dir / name
        event = json.loads(path.read_text())
        change(event)
        path.write_text(json.dumps(event))

    def assert_only(self, fragment):
        findings = self.findings()
        self.assertEqual(len(findings), 1, findings)
        self.assertIn(fragment, findings[0])

    def test_the_samples_pass_every_rule(self):
        self.assertEqual(self.findings(), [])

    def test_a_key_not_url_encoded(self):
        def raw(e):
            obj = e["detail"]["object"]
            obj["key"] = obj["key"].replace("%3D", "=")
        self.edit("eventbridge-object-created.json", raw)
        self.assert_only("eventbridge-object-created.json: key")

    def test_a_batch_1_0_task_with_a_2_0_bucket_field(self):
        def wrong(e):
            e["tasks"][0]["s3Bucket"] = "genesys-exports-example"
        self.edit("s3-batch-v1-recording.json", wrong)
        self.assert_only("schema 1.0 tasks carry s3BucketArn")

    def test_query_string_parameters_that_disagree(self):
        def wrong(e):
            e["queryStringParameters"] = {"conversation": "other"}
        self.edit("function-url-get-records.json", wrong)
        self.assert_only("queryStringParameters do not match rawQueryString")

    def test_an_sns_message_that_is_not_json(self):
        def wrong(e):
            body = json.loads(e["Records"][0]["body"])
            body["Message"] = "{not json"
            e["Records"][0]["body"] = json.dumps(body)
            import hashlib
            e["Records"][0]["md5OfBody"] = hashlib.md5(e["Records"][0]["body"].encode()).hexdigest()
        self.edit("sqs-sns-s3-put.json", wrong)
        self.assert_only("body.Message: not JSON")

    def test_a_body_that_does_not_match_its_md5(self):
        def wrong(e):
            e["Records"][0]["md5OfBody"] = "0" * 32
        self.edit("sqs-eventbridge-object-created.json", wrong)
        self.assert_only("md5OfBody does not match the body")

    def test_a_missing_shape(self):
        (self.dir / "s3-batch-v1-recording.json").unlink()
        self.assert_only("no batch-1.0 sample event")

    def test_duplicate_keys(self):
        (self.dir / "dup.json").write_text('{"a": 1, "a": 2}')
        self.assert_only("dup.json: not valid JSON: duplicate keys")


if __name__ == "__main__":
    unittest.main()
