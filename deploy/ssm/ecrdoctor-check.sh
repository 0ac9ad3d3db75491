#!/bin/bash
# The body of deploy/ssm/ecrdoctor-check.json (kept here as a file so it can be read, linted and tested;
# scripts/build-ssm-document puts it into the document after four lines that set SSM_Image, SSM_S3Prefix,
# SSM_InstallSource and SSM_Timeout from the document's parameters, whose allowedPattern admits no quote,
# space or shell metacharacter). Systems Manager runs it as root on each instance.
#
# It installs ecrdoctor (the single-file build, or pip into a throwaway venv), runs `ecrdoctor bundle` once
# (the JSON report on stdout, the redacted bundle to a file), and uploads both to
# <S3Prefix>/<instance-id>/report.json and bundle.tar.gz. It changes nothing else on the instance.
set -u
image="${SSM_Image:-}"
prefix="${SSM_S3Prefix%/}"
source="${SSM_InstallSource:-}"
deadline="${SSM_Timeout:-30}"

fail() { echo "ecrdoctor-check: $*" >&2; exit 1; }
case "$prefix" in s3://?*) ;; *) fail "S3Prefix must be s3://bucket[/prefix], not '$prefix'" ;; esac
case "$deadline" in ''|*[!0-9]*) fail "Timeout must be whole seconds, not '$deadline'" ;; esac
command -v aws >/dev/null 2>&1 || fail "the AWS CLI (aws) is needed to upload to S3 and is not on PATH"

work="$(mktemp -d /tmp/ecrdoctor-check.XXXXXX)" || fail "cannot make a work directory"
trap 'rm -rf "$work"' EXIT

# who this is: the instance id from DMI (Nitro), else IMDSv2, else the host name
id="$(cat /sys/devices/virtual/dmi/id/board_asset_tag 2>/dev/null | tr -d '[:space:]')"
case "$id" in i-*) ;; *) id="" ;; esac
imds="${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254}"
imds="${imds%/}"
if [ -z "$id" ] && [ "${AWS_EC2_METADATA_DISABLED:-}" != "true" ] && command -v curl >/dev/null 2>&1; then
    token="$(curl -sf -m 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$imds/latest/api/token")"
    id="$(curl -sf -m 2 -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/instance-id")"
fi
[ -n "$id" ] || id="$(hostname)"

python=""
for candidate in python3.13 python3.12 python3.11 python3.10 python3.9 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 9))'; then
        python="$candidate"; break
    fi
done
[ -n "$python" ] || fail "ecrdoctor needs Python 3.9 or later, and none is on PATH"

case "$source" in
    pyz:*)
        from="${source#pyz:}"
        case "$from" in
            s3://*) aws s3 cp --only-show-errors "$from" "$work/ecrdoctor.pyz" || fail "cannot download $from" ;;
            https://*) curl -fsSL -m 60 -o "$work/ecrdoctor.pyz" "$from" || fail "cannot download $from" ;;
            *) cp "$from" "$work/ecrdoctor.pyz" || fail "cannot read $from" ;;
        esac
        run=("$python" "$work/ecrdoctor.pyz") ;;
    pip:*)
        "$python" -m venv "$work/venv" && "$work/venv/bin/pip" install -q "${source#pip:}" \
            || fail "pip install ${source#pip:} failed"
        run=("$work/venv/bin/ecrdoctor") ;;
    *) fail "InstallSource must be pyz:<s3://…|https://…|path> or pip:<requirement>, not '$source'" ;;
esac

args=(bundle -o "$work/bundle.tar.gz" --format json --timeout "$deadline")
[ -n "$image" ] && args+=("$image")
"${run[@]}" "${args[@]}" > "$work/report.json"
status=$?
# 0: nothing failed, 1: a check failed, 3: a check errored: all are findings. 2 is a usage error.
[ "$status" -eq 2 ] && fail "ecrdoctor refused the arguments (exit 2); see above"
[ -s "$work/report.json" ] || fail "ecrdoctor wrote no report (exit $status)"

dest="$prefix/$id"
aws s3 cp --only-show-errors "$work/report.json" "$dest/report.json" || fail "cannot upload to $dest/report.json"
if [ -s "$work/bundle.tar.gz" ]; then
    aws s3 cp --only-show-errors "$work/bundle.tar.gz" "$dest/bundle.tar.gz" || fail "cannot upload $dest/bundle.tar.gz"
fi
diagnosis="$("$python" -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["diagnosis"]) or "nothing failing")' "$work/report.json" 2>/dev/null)"
echo "ecrdoctor-check: $id: ${diagnosis:-?} (exit $status); uploaded to $dest/"
exit 0
