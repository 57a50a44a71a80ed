#!/usr/bin/env bash
# Export what `nhiaudit scan gcp --from-dir` reads, with read-only gcloud commands.
#
#   scripts/gcp-export.sh OUTDIR PROJECT_ID [PROJECT_ID ...]
#
# Writes OUTDIR/projects/<id>/..., and OUTDIR/folders/<id>/ and OUTDIR/organizations/<id>/ for
# every folder and organization above the projects (from `gcloud projects get-ancestors`).
# Needs the same read-only roles as a live scan (docs/gcp.md). A command that fails (denied,
# API disabled) leaves its file out; nhiaudit then reports that evidence as a coverage gap.
set -uo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 OUTDIR PROJECT_ID [PROJECT_ID ...]" >&2
  exit 2
fi
OUT=$1
shift
GCLOUD=${GCLOUD:-gcloud}
FAILED=0

# run FILE gcloud-args...: write the JSON output to FILE, or warn and leave FILE out.
run() {
  local file=$1
  shift
  mkdir -p "$(dirname "$file")"
  if "$GCLOUD" "$@" --format=json >"$file.tmp" 2>"$file.err"; then
    mv "$file.tmp" "$file"
    rm -f "$file.err"
  else
    echo "warning: gcloud $* failed: $(tail -n 1 "$file.err")" >&2
    rm -f "$file.tmp" "$file.err"
    FAILED=$((FAILED + 1))
    return 1
  fi
}

# values FIELD gcloud-args...: one value per line (empty when the command fails).
values() {
  local field=$1
  shift
  "$GCLOUD" "$@" --format="value($field)" 2>/dev/null || true
}

containers=()
for project in "$@"; do
  dir="$OUT/projects/$project"
  echo "exporting project $project" >&2
  run "$dir/project.json" projects describe "$project"
  if run "$dir/ancestors.json" projects get-ancestors "$project"; then
    while IFS=$'\t' read -r id type; do
      [ "$type" = "folder" ] || [ "$type" = "organization" ] || continue
      containers+=("${type}s/$id")
    done < <(values "id,type" projects get-ancestors "$project")
  fi
  run "$dir/iam-policy.json" projects get-iam-policy "$project"
  if run "$dir/service-accounts.json" iam service-accounts list --project="$project"; then
    for email in $(values email iam service-accounts list --project="$project"); do
      run "$dir/keys/$email.json" iam service-accounts keys list --iam-account="$email" --project="$project"
      run "$dir/sa-iam-policies/$email.json" iam service-accounts get-iam-policy "$email" --project="$project"
    done
  fi
  mkdir -p "$dir/custom-roles"
  for role in $(values name iam roles list --project="$project" --show-deleted); do
    run "$dir/custom-roles/${role##*/}.json" iam roles describe "${role##*/}" --project="$project"
  done
  run "$dir/recommendations.json" recommender recommendations list --project="$project" --location=global \
    --recommender=google.iam.policy.Recommender
  run "$dir/policy-insights.json" recommender insights list --project="$project" --location=global \
    --insight-type=google.iam.policy.Insight
  run "$dir/sa-insights.json" recommender insights list --project="$project" --location=global \
    --insight-type=google.iam.serviceAccount.Insight
  run "$dir/activity-service-accounts.json" policy-intelligence query-activity --project="$project" \
    --activity-type=serviceAccountLastAuthentication --limit=unlimited
  run "$dir/activity-keys.json" policy-intelligence query-activity --project="$project" \
    --activity-type=serviceAccountKeyLastAuthentication --limit=unlimited
  if run "$dir/workload-identity-pools.json" iam workload-identity-pools list --location=global --project="$project"; then
    for pool in $(values name iam workload-identity-pools list --location=global --project="$project"); do
      run "$dir/wif-providers/${pool##*/}.json" iam workload-identity-pools providers list \
        --workload-identity-pool="${pool##*/}" --location=global --project="$project"
    done
  fi
done

for container in $(printf '%s\n' ${containers[@]+"${containers[@]}"} | sort -u); do
  id=${container#*/}
  dir="$OUT/$container"
  echo "exporting $container" >&2
  case $container in
    folders/*)
      run "$dir/folder.json" resource-manager folders describe "$id"
      run "$dir/iam-policy.json" resource-manager folders get-iam-policy "$id"
      ;;
    organizations/*)
      run "$dir/organization.json" organizations describe "$id"
      run "$dir/iam-policy.json" organizations get-iam-policy "$id"
      mkdir -p "$dir/custom-roles"
      for role in $(values name iam roles list --organization="$id" --show-deleted); do
        run "$dir/custom-roles/${role##*/}.json" iam roles describe "${role##*/}" --organization="$id"
      done
      ;;
  esac
done

echo "done: $OUT ($FAILED command(s) failed; see the warnings above)" >&2
