#!/usr/bin/env bash
# Installs the SAM template tooling into .tools/sam-venv (git-ignored), idempotently, from PyPI:
# the SAM CLI (sam validate / build / local invoke), the SAM translator (template expansion) and
# cfn-lint; checkov in a venv of its own (.tools/checkov-venv: its pins differ from the SAM CLI's).
# Versions are pinned; override with the variables below to try others.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.tools/sam-venv"
AWS_SAM_CLI_VERSION="${AWS_SAM_CLI_VERSION:-1.170.0}"
AWS_SAM_TRANSLATOR_VERSION="${AWS_SAM_TRANSLATOR_VERSION:-1.115.0}"
CFN_LINT_VERSION="${CFN_LINT_VERSION:-1.58.0}"
CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
stamp="$venv/.installed-sam-$AWS_SAM_CLI_VERSION-translator-$AWS_SAM_TRANSLATOR_VERSION-cfnlint-$CFN_LINT_VERSION"
checkov_venv="$root/.tools/checkov-venv"
checkov_stamp="$checkov_venv/.installed-checkov-$CHECKOV_VERSION"

if [ ! -f "$checkov_stamp" ] || [ ! -x "$checkov_venv/bin/checkov" ]; then
  mkdir -p "$root/.tools"
  [ -x "$checkov_venv/bin/python" ] || python3 -m venv "$checkov_venv"
  "$checkov_venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
  "$checkov_venv/bin/checkov" --version >/dev/null
  rm -f "$checkov_venv"/.installed-checkov-*
  touch "$checkov_stamp"
  echo "checkov $CHECKOV_VERSION installed in $checkov_venv" >&2
fi

if [ -f "$stamp" ] && [ -x "$venv/bin/sam" ] && [ -x "$venv/bin/cfn-lint" ]; then
  exit 0
fi
mkdir -p "$root/.tools"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  "aws-sam-cli==$AWS_SAM_CLI_VERSION" \
  "aws-sam-translator==$AWS_SAM_TRANSLATOR_VERSION" \
  "cfn-lint==$CFN_LINT_VERSION"
SAM_CLI_TELEMETRY=0 "$venv/bin/sam" --version >/dev/null
"$venv/bin/cfn-lint" --version >/dev/null
rm -f "$venv"/.installed-sam-*
touch "$stamp"
echo "SAM tools installed in $venv ($(SAM_CLI_TELEMETRY=0 "$venv/bin/sam" --version), cfn-lint $("$venv/bin/cfn-lint" --version | awk '{print $2}'))" >&2
