"""The settings the deployment depends on: runtime and build of the functions, one integrator, one IAM Function URL,
SQS partial batch failures, the ledger's Object Lock, the queue's dead-letter queue and visibility,
alarms that notify someone, and for an existing export bucket an EventBridge rule that is the
queue's only other sender."""


def function(resources, logical_id, finding):
    res = resources.get(logical_id)
    if not res or res.get("Type") != "AWS::Lambda::Function":
        finding(f"{logical_id}: no AWS::Lambda::Function of that name in the expanded template")
        return {}
    return res["Properties"]


def check(sam, resources, finding):
    for logical_id, binary in (("TaggerFunction", "custody-tagger"), ("SequencerFunction", "custody-sequencer"),
                               ("AuditorFunction", "custody-auditor")):
        props = function(resources, logical_id, finding)
        if not props:
            continue
        for key, want in (("Runtime", "provided.al2023"), ("Handler", "bootstrap"),
                          ("Architectures", ["arm64"]), ("MemorySize", 1769)):
            if props.get(key) != want:
                finding(f"{logical_id}: {key} is {props.get(key)!r}, expected {want!r}")
        meta = sam["Resources"].get(logical_id, {}).get("Metadata", {})
        if meta.get("BuildMethod") != "rust-cargolambda" or meta.get("BuildProperties", {}).get("Binary") != binary:
            finding(f"{logical_id}: Metadata must be BuildMethod rust-cargolambda with BuildProperties.Binary {binary}")
        if "ReservedConcurrentExecutions" not in props:
            finding(f"{logical_id}: needs ReservedConcurrentExecutions (a parameter may turn it off)")

    urls = [r["Properties"] for r in resources.values() if r.get("Type") == "AWS::Lambda::Url"]
    if len(urls) != 1 or urls[0].get("AuthType") != "AWS_IAM":
        finding("the auditor needs exactly one Function URL, with AuthType AWS_IAM")

    esm = [r["Properties"] for r in resources.values() if r.get("Type") == "AWS::Lambda::EventSourceMapping"]
    tagger_esm = [e for e in esm if e.get("FunctionName") == {"Ref": "TaggerFunction"}]
    if len(tagger_esm) != 1 or "ReportBatchItemFailures" not in tagger_esm[0].get("FunctionResponseTypes", []):
        finding("the tagger needs one SQS event source mapping with ReportBatchItemFailures")
    sequencer = resources.get("SequencerFunction", {}).get("Properties", {})
    if sequencer and sequencer.get("ReservedConcurrentExecutions") != 1:
        finding("SequencerFunction: ReservedConcurrentExecutions must be 1 (one integrator)")
    if not [e for e in esm if e.get("FunctionName") == {"Ref": "SequencerFunction"}]:
        finding("SequencerFunction: needs the SQS event source mapping of ledger submissions")

    ledger = resources.get("LedgerBucket", {}).get("Properties", {})
    lock = ledger.get("ObjectLockConfiguration", {})
    if ledger.get("ObjectLockEnabled") is not True or lock.get("ObjectLockEnabled") != "Enabled":
        finding("LedgerBucket: Object Lock must be enabled")
    if ledger.get("VersioningConfiguration", {}).get("Status") != "Enabled":
        finding("LedgerBucket: versioning must be enabled")
    if sam.get("Parameters", {}).get("LedgerLockMode", {}).get("Default") != "COMPLIANCE":
        finding("LedgerLockMode must default to COMPLIANCE")

    tagger = resources.get("TaggerFunction", {}).get("Properties", {})
    queue = resources.get("ExportEventsQueue", {}).get("Properties", {})
    if "RedrivePolicy" not in queue:
        finding("ExportEventsQueue: needs a dead-letter queue (RedrivePolicy)")
    elif tagger and queue.get("VisibilityTimeout", 0) < 6 * tagger.get("Timeout", 3):
        finding("ExportEventsQueue: VisibilityTimeout must be at least six times the tagger's Timeout")

    rule = resources.get("ExportObjectCreatedRule")
    if not rule or rule.get("Type") != "AWS::Events::Rule":
        finding("ExportObjectCreatedRule: an existing export bucket needs an EventBridge rule into the queue")
    else:
        pattern = rule["Properties"].get("EventPattern", {})
        if pattern.get("detail-type") != ["Object Created"] or pattern.get("source") != ["aws.s3"]:
            finding("ExportObjectCreatedRule: must match source aws.s3, detail-type Object Created")
        if "CopyObject" in pattern.get("detail", {}).get("reason", ["CopyObject"]):
            finding("ExportObjectCreatedRule: must leave out CopyObject (the tagger copies objects onto themselves)")
    policy = resources.get("ExportEventsQueuePolicy", {}).get("Properties", {}).get("PolicyDocument", {})
    senders = [s for s in policy.get("Statement", []) if isinstance(s, dict) and "Fn::If" in s]
    for s in policy.get("Statement", []):
        if isinstance(s, dict) and s.get("Effect") == "Allow" and "Fn::If" not in s:
            finding(f"ExportEventsQueuePolicy/{s.get('Sid', '?')}: every sender must be conditional (bucket or rule, never both)")
    for s in senders:
        for branch in s["Fn::If"][1:]:
            if isinstance(branch, dict) and branch.get("Principal", {}).get("Service") == "events.amazonaws.com":
                source = branch.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn")
                if source != {"Fn::GetAtt": ["ExportObjectCreatedRule", "Arn"]}:
                    finding("ExportEventsQueuePolicy: EventBridge may send only from ExportObjectCreatedRule")

    for logical_id, res in resources.items():
        if res.get("Type") == "AWS::CloudWatch::Alarm" and not res["Properties"].get("AlarmActions"):
            finding(f"{logical_id}: alarm notifies nobody (no AlarmActions)")
    alarmed = {res["Properties"].get("MetricName") for res in resources.values() if res.get("Type") == "AWS::CloudWatch::Alarm"}
    for metric in ("Findings", "Errors", "Throttles", "ApproximateNumberOfMessagesVisible"):
        if metric not in alarmed:
            finding(f"no alarm on {metric}")
