"""The project's rules for template.yaml and samples/events, beyond what sam validate, cfn-lint and
checkov know: run by scripts/check-template.sh as `python -m template_rules`.

Modules, one concept each:
  expand      SAM -> CloudFormation offline with samtranslator (managed policies from its bundled list)
  env_vars    each function's environment against the lists the Rust code exports
              (functions/<name>/env-vars.json, written and kept current by a Rust test)
  deployment  the settings the deployment depends on (runtime, Object Lock, queues, alarms)
  privilege   least privilege: no wildcards, no managed policies, a read-only auditor
  events      every sample event has a shape AWS sends, with keys encoded as S3 encodes them

Every rule appends a human-readable finding naming the resource (or file) and field; the runner
prints them and exits 1 when there is any. test_rules.py holds one test per rule in which
exactly that rule fails.
"""
