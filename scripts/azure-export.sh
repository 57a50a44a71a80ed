#!/usr/bin/env bash
# Export what `nhiaudit scan azure --from-dir` reads, with read-only az commands (GET requests only).
#
#   scripts/azure-export.sh OUTDIR [SUBSCRIPTION_ID ...]
#
# Signs in as whoever `az login` signed in. Writes the Entra objects as Microsoft Graph pages
# (az rest, following @odata.nextLink) and the Azure role assignments of the named subscriptions
# (default: every enabled subscription of the tenant) as az output; layout in docs/azure.md.
# Needs the same read-only permissions as a live scan (docs/azure.md). A command that fails
# (denied, no licence for the sign-in reports, ...) leaves its file out with a warning; nhiaudit
# then reports that evidence as a coverage gap. Needs az and python3 (for reading JSON).
set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 OUTDIR [SUBSCRIPTION_ID ...]" >&2
  exit 2
fi
OUT=$1
shift
AZ=${AZ:-az}
G=${GRAPH_URL:-https://graph.microsoft.com}
PY=${PYTHON:-python3}
FAILED=0
mkdir -p "$OUT/graph" "$OUT/group-members"

# run FILE az-args...: write the JSON output of one az command to FILE, or warn and leave FILE out.
run() {
  local file=$1
  shift
  if "$AZ" "$@" --output json >"$file.tmp" 2>"$file.err"; then
    mv "$file.tmp" "$file"
    rm -f "$file.err"
  else
    echo "warning: az $* failed: $(tail -n 1 "$file.err")" >&2
    rm -f "$file.tmp" "$file.err"
    FAILED=$((FAILED + 1))
    return 1
  fi
}

# json FILE... EXPRESSION: print one value per line, EXPRESSION applied to each file's parsed JSON `d`.
json() {
  local expr=${*: -1}
  "$PY" -c "import json, sys
for path in sys.argv[1:]:
    d = json.load(open(path))
    for value in ($expr):
        print(value)" "${@:1:$#-1}"
}

# page URL PREFIX: every page of a Graph collection as PREFIX-1.json, PREFIX-2.json, ...
page() {
  local url=$1 prefix=$2 n=1
  while [ -n "$url" ]; do
    run "$prefix-$n.json" rest --method get --url "$url" || return 1
    url=$(json "$prefix-$n.json" '[d.get("@odata.nextLink")] if d.get("@odata.nextLink") else []')
    n=$((n + 1))
  done
}

echo "exporting the tenant" >&2
run "$OUT/account.json" account show
run "$OUT/subscriptions.json" account list --all
OWNERS='$expand=owners($select=id,displayName,userPrincipalName,userType,accountEnabled)'
page "$G/v1.0/applications?$OWNERS" "$OUT/graph/applications"
page "$G/v1.0/servicePrincipals?$OWNERS" "$OUT/graph/servicePrincipals"

apps=$(ls "$OUT"/graph/applications-*.json 2>/dev/null)
if [ -n "$apps" ]; then
  for app in $(json $apps '[a["id"] for a in d.get("value", [])]'); do
    page "$G/v1.0/applications/$app/federatedIdentityCredentials" "$OUT/graph/fic-$app"
  done
fi
sps=$(ls "$OUT"/graph/servicePrincipals-*.json 2>/dev/null)
if [ -n "$sps" ]; then
  # application permissions, read on the side of each API that offers them (Microsoft Graph, own APIs, ...)
  for api in $(json $sps '[s["id"] for s in d.get("value", []) if any("Application" in (r.get("allowedMemberTypes") or []) for r in s.get("appRoles") or [])]'); do
    page "$G/v1.0/servicePrincipals/$api/appRoleAssignedTo?\$top=999" "$OUT/graph/app-roles-$api"
  done
fi
page "$G/v1.0/oauth2PermissionGrants" "$OUT/graph/oauth2-grants"
page "$G/v1.0/roleManagement/directory/roleAssignments?\$expand=principal(\$select=id)" "$OUT/graph/directory-role-assignments"
page "$G/v1.0/roleManagement/directory/roleDefinitions" "$OUT/graph/directory-role-definitions"
page "$G/beta/reports/servicePrincipalSignInActivities" "$OUT/graph/sp-sign-in"
page "$G/beta/reports/appCredentialSignInActivities" "$OUT/graph/credential-sign-in"

subscriptions=("$@")
if [ ${#subscriptions[@]} -eq 0 ] && [ -f "$OUT/subscriptions.json" ]; then
  tenant=$(json "$OUT/account.json" '[d["tenantId"]]' 2>/dev/null)
  while IFS= read -r sub; do subscriptions+=("$sub"); done < <(
    json "$OUT/subscriptions.json" "[s['id'] for s in d if s.get('state') == 'Enabled' and s.get('tenantId') == '$tenant']"
  )
fi
for sub in ${subscriptions[@]+"${subscriptions[@]}"}; do
  echo "exporting subscription $sub" >&2
  run "$OUT/role-assignments-$sub.json" role assignment list --all --include-inherited --subscription "$sub"
  run "$OUT/role-definitions-$sub.json" role definition list --custom-role-only true --subscription "$sub"
done

# members of the groups that hold Azure roles or Entra roles
groups=$(
  {
    ls "$OUT"/role-assignments-*.json >/dev/null 2>&1 &&
      json "$OUT"/role-assignments-*.json '[a["principalId"] for a in d if a.get("principalType") == "Group"]'
    ls "$OUT"/graph/directory-role-assignments-*.json >/dev/null 2>&1 &&
      json "$OUT"/graph/directory-role-assignments-*.json '[a["principalId"] for a in d.get("value", []) if (a.get("principal") or {}).get("@odata.type") == "#microsoft.graph.group"]'
  } | sort -u
)
for group in $groups; do
  page "$G/v1.0/groups/$group/transitiveMembers/microsoft.graph.servicePrincipal" "$OUT/group-members/$group"
  run "$OUT/graph/group-$group.json" rest --method get --url "$G/v1.0/groups/$group?\$select=id,displayName"
done

if [ $FAILED -gt 0 ]; then
  echo "$FAILED command(s) failed; their files are left out and nhiaudit reports the gaps" >&2
fi
echo "wrote $OUT; scan it with: nhiaudit scan azure --from-dir $OUT" >&2
