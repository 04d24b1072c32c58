#!/usr/bin/env bash
# Runs the real Lambda function binaries locally, without Docker or an AWS account:
# `cargo lambda watch` (the Lambda runtime API emulator, running custody-tagger and
# custody-auditor as Lambda would) against a SeaweedFS server on 127.0.0.1 that holds the sample
# export, then `cargo lambda invoke` with sample events, printing each response. Everything it
# starts is stopped at the end, also on failure. Its logs stay in target/lambda-local/<time>/:
# watch.log (cargo lambda watch and the functions' JSON log lines), the events sent (events/),
# the responses (responses/), the SeaweedFS launcher's output.
#
#   ./scripts/lambda-local.sh                 # tagger on an S3 put event, then the auditor
#   EVENT=sqs ./scripts/lambda-local.sh       # the tagger on the SQS-wrapped sample instead
#
# cargo-lambda comes from PyPI (pinned) into the git-ignored .tools/ venv, installed idempotently
# by scripts/install-tools.sh. CI runs the same functions under cargo lambda watch with every
# sample event in tests/tests/lambda_local.rs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.tools/venv"
target="${CARGO_TARGET_DIR:-$root/target}"
export CARGO_TARGET_DIR="$target" # cargo lambda watch builds into the same folder
work="$target/lambda-local/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$work/events" "$work/responses"
export_bucket="genesys-exports-local"
ledger_bucket="custody-ledger-local"
origin="custody.local/ledger"
org="3f1c9a52-7d0e-4b8a-9c61-0a2b4c6d8e10"
metadata_key="$org/year=2024/month=03/day=14/hour=09/conversation_id=c0ffee01-5b2a-4e9d-9a10-3d2f7a000001/a1a1a1a1-0000-4000-8000-000000000001.opus_metadata.json"

serve_pid=""
watch_pid=""
cleanup() {
  set +e
  if [ -n "$watch_pid" ]; then
    kill -TERM -- "-$watch_pid" 2>/dev/null
    wait "$watch_pid" 2>/dev/null
  fi
  if [ -n "$serve_pid" ]; then
    exec 7>&- # closing its standard input stops the server
    for _ in $(seq 50); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "$serve_pid" 2>/dev/null
    wait "$serve_pid" 2>/dev/null
  fi
  # The logs stay; the throwaway signing key and the env file that holds it and the S3 secret go.
  rm -rf "$work/serve.in" "$work/keys" "$work/function.env"
  echo "== logs kept in $work"
}
trap cleanup EXIT

./scripts/install-tools.sh
export PATH="$venv/bin:$PATH"

echo "== building the functions, the CLI and the server launcher"
# The same `cargo build --bin …` as `cargo lambda watch`'s `cargo run --bin NAME` (no -p, so the
# same features): watch then finds the functions built.
cargo build --quiet --bin custody-tagger --bin custody-auditor --bin custody-sequencer \
  --bin custody --bin seaweedfs-serve

echo "== starting SeaweedFS with the sample export"
mkfifo "$work/serve.in"
set -m # background jobs get their own process group, so each can be stopped whole
"$target/debug/seaweedfs-serve" --locked-bucket "$export_bucket" \
  --locked-bucket "$ledger_bucket" --upload "samples/export=$export_bucket" \
  <"$work/serve.in" >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
exec 7>"$work/serve.in"
for _ in $(seq 600); do
  grep -q '^ready$' "$work/serve.out" 2>/dev/null && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
  sleep 0.1
done
grep -q '^ready$' "$work/serve.out" || { echo "SeaweedFS did not start" >&2; exit 1; }
endpoint="$(sed -n 's/^endpoint=//p' "$work/serve.out")"
echo "   $endpoint"

"$target/debug/custody" keygen --origin "$origin" --out "$work/keys" >/dev/null
signing_key="$(cat "$work"/keys/*.key)"
# The auditor trusts the key given to it, never only the one published in the ledger bucket.
trusted_keys="$(cat "$work"/keys/*.vkey | tr -d '\n')"
touch "$work/function.env" && chmod 600 "$work/function.env" # it holds the signing key
cat >"$work/function.env" <<EOF
CUSTODY_EXPORT_BUCKET=$export_bucket
CUSTODY_EXPORT_PREFIX=$org/
CUSTODY_LEDGER=s3://$ledger_bucket/ledger
CUSTODY_LEDGER_ORIGIN=$origin
CUSTODY_HOLD_SELECT=matters:$root/samples/matters.json
CUSTODY_HOLD_MARKING=tags,metadata,object-lock
CUSTODY_SIGNING_KEY=$signing_key
CUSTODY_S3_ENDPOINT=$endpoint
CUSTODY_S3_PATH_STYLE=true
CUSTODY_TRUSTED_KEYS=$trusted_keys
AWS_ACCESS_KEY_ID=$(sed -n 's/^access_key_id=//p' "$work/serve.out")
AWS_SECRET_ACCESS_KEY=$(sed -n 's/^secret_access_key=//p' "$work/serve.out")
AWS_REGION=us-east-1
AWS_EC2_METADATA_DISABLED=true
RUST_LOG=info
EOF

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
echo "== cargo lambda watch on 127.0.0.1:$port"
cargo lambda watch --ignore-changes -A 127.0.0.1 -P "$port" --env-file "$work/function.env" \
  >"$work/watch.log" 2>&1 &
watch_pid=$!
for _ in $(seq 300); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$watch_pid" 2>/dev/null || { cat "$work/watch.log" >&2; exit 1; }
  sleep 0.2
done

# The sample events name an example bucket and key: point them at the local ones, keeping the
# key URL-encoded as S3 sends it.
python3 - "$metadata_key" "$export_bucket" "$work" <<'EOF'
import json, sys, urllib.parse
key, bucket, work = sys.argv[1:4]
encoded = urllib.parse.quote_plus(key, safe="/")
def point(record):
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = "arn:aws:s3:::" + bucket
    record["s3"]["object"]["key"] = encoded
    record["s3"]["object"].pop("versionId", None)
    return record
event = json.load(open("samples/events/s3-put-metadata.json"))
event["Records"] = [point(event["Records"][0])]
json.dump(event, open(f"{work}/events/s3-put.json", "w"))
sqs = json.load(open("samples/events/sqs-s3-put.json"))
body = json.loads(sqs["Records"][0]["body"])
body["Records"] = [point(body["Records"][0])]
sqs["Records"] = sqs["Records"][:1]
sqs["Records"][0]["body"] = json.dumps(body)
json.dump(sqs, open(f"{work}/events/sqs-s3-put.json", "w"))
EOF
event="$work/events/s3-put.json"
[ "${EVENT:-}" = "sqs" ] && event="$work/events/sqs-s3-put.json"

invoke() { # invoke FUNCTION DATA_FILE NAME: prints the response and keeps it in responses/NAME.json
  local function="$1" data="$2" name="$3"
  echo "== cargo lambda invoke $function --data-file $data"
  if ! AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
    cargo lambda invoke "$function" --data-file "$data" -A 127.0.0.1 -P "$port" \
    --output-format json >"$work/responses/$name.json"; then
    echo "-- the function's log:" >&2
    tail -n 40 "$work/watch.log" >&2
    return 1
  fi
  cat "$work/responses/$name.json"
  echo
}
invoke custody-tagger "$event" tagger-1
invoke custody-tagger "$event" tagger-2-redelivered # nothing new is appended
invoke custody-auditor samples/events/function-url-get-verify.json auditor-verify
echo "== done; stopping cargo lambda watch and SeaweedFS"
