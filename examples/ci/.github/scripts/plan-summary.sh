#!/usr/bin/env bash
# Prints a readable summary of a saved Terraform plan, from its JSON form:
#
#   terraform plan -out=tfplan && terraform show -json tfplan > plan.json
#   plan-summary.sh plan.json              # plain text, for the job log or a terminal
#   plan-summary.sh --markdown plan.json   # the same as Markdown, for $GITHUB_STEP_SUMMARY
#
# It counts the resources to add, change, replace and destroy (a replacement counts once, under
# "replace", where Terraform's own line counts one add and one destroy), then lists each resource
# with its action and, for updates and replacements, every attribute path that changes, marking
# the ones that force the replacement (`replace_paths`). Values Terraform marks sensitive
# (`before_sensitive` / `after_sensitive`) are never printed, in whole or in part: they read
# "(sensitive value)". Needs bash and jq (1.6 or later); reads standard input without a file.
set -euo pipefail

markdown=false
case "${1:-}" in
  --markdown) markdown=true; shift ;;
  -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
esac
if [ "$#" -gt 1 ]; then
  echo "usage: $0 [--markdown] [plan.json]" >&2
  exit 2
fi

# shellcheck disable=SC2016 # the program is jq, not shell
program='
# "sink.write_capacity", "analytics.children[0].key", "tags[\"unifiedetl:pipeline\"]"
def fmt_path:
  reduce .[] as $s ("";
    if ($s | type) == "number" then . + "[\($s)]"
    elif ($s | test("^[A-Za-z_][A-Za-z0-9_-]*$")) then (if . == "" then $s else . + "." + $s end)
    else . + "[\($s | tojson)]"
    end);

# .[$k] on the matching container type, else null (masks are false where nothing is marked).
def at($k):
  if (type == "object" and ($k | type) == "string") or (type == "array" and ($k | type) == "number")
  then .[$k] else null end;

def any_true: [.. | select(. == true)] | length > 0;

# The value with every part its mask marks sensitive replaced by a placeholder.
def redact($m):
  if $m == true then "(sensitive value)"
  elif type == "object" and ($m | type) == "object" then
    with_entries(.key as $k | .value |= redact($m | at($k)))
  elif type == "array" and ($m | type) == "array" then
    . as $v | [range(0; length) as $i | $v[$i] | redact($m | at($i))]
  else .
  end;

def render($m):
  if $m == true then "(sensitive value)"
  else (redact($m) | tojson) as $s
    | if ($s | length) > 80 then $s[0:79] + "…" else $s end
  end;

# Nested blocks and objects are walked down to their attributes; lists of plain values (subnet
# ids, say) are shown whole.
def walkable: type == "object" or (type == "array" and any(.[]; type == "object"));

# One {path, op, before, after} per changed attribute of before -> after. $u is after_unknown,
# $sb / $sa the sensitivity masks, all walked in step with the values.
def changes($b; $a; $u; $sb; $sa; $p):
  if $sb == true or $sa == true then
    if $b != $a or ($u | any_true) then
      {path: $p, op: (if $b == null then "+" elif $a == null and $u != true then "-" else "~" end),
       before: ($b | render($sb)),
       after: (if $u == true then "(known after apply)" else ($a | render($sa)) end)}
    else empty end
  elif $u == true then
    {path: $p, op: (if $b == null then "+" else "~" end),
     before: ($b | render($sb)), after: "(known after apply)"}
  elif ($b == null or ($b | type) == "object") and ($a == null or ($a | type) == "object")
       and (($b | type) == "object" or ($a | type) == "object") then
    ([($b // {} | keys[]), ($a // {} | keys[]),
      (if ($u | type) == "object" then ($u | to_entries[] | select(.value | any_true) | .key) else empty end)]
     | unique[]) as $k
    | changes($b | at($k); $a | at($k); $u | at($k); $sb | at($k); $sa | at($k); $p + [$k])
  elif ($b == null or ($b | type) == "array") and ($a == null or ($a | type) == "array")
       and (($b | walkable) or ($a | walkable)) then
    range(0; [($b // [] | length), ($a // [] | length), (if ($u | type) == "array" then $u | length else 0 end)] | max) as $i
    | changes($b | at($i); $a | at($i); $u | at($i); $sb | at($i); $sa | at($i); $p + [$i])
  elif $b == $a and (($u | any_true) | not) then empty
  elif $b == null then {path: $p, op: "+", before: "null", after: (if ($u | any_true) then "(known after apply)" else ($a | render($sa)) end)}
  elif $a == null and (($u | any_true) | not) then {path: $p, op: "-", before: ($b | render($sb)), after: "null"}
  else {path: $p, op: "~", before: ($b | render($sb)),
        after: (if ($u | any_true) then "(known after apply)" else ($a | render($sa)) end)}
  end;

def line:
  "    \(.op) \(.path | fmt_path) = "
  + (if .op == "+" then .after elif .op == "-" then .before else "\(.before) -> \(.after)" end);

def diff_lines($replace):
  . as $c
  | [changes($c.before; $c.after; $c.after_unknown; $c.before_sensitive; $c.after_sensitive; [])] as $all
  | ($all[] | . as $x
     | line + (if any($replace[]; . as $r | $x.path[0:($r | length)] == $r) then "   # forces replacement" else "" end)),
    ($replace[] | . as $r | select(any($all[]; .path[0:($r | length)] == $r) | not)
     | "    # forces replacement: \($r | fmt_path)");

def kind:
  .change.actions as $a
  | if $a == ["create"] then "create"
    elif $a == ["delete"] then "delete"
    elif $a == ["update"] then "update"
    elif $a == ["delete", "create"] or $a == ["create", "delete"] then "replace"
    elif $a == ["read"] then "read"
    elif $a == ["forget"] then "forget"
    else "no-op"
    end;

def reason:
  {replace_because_tainted: "tainted",
   replace_by_request: "requested with -replace",
   replace_by_triggers: "replace_triggered_by",
   delete_because_no_resource_config: "no longer in the configuration",
   delete_because_no_module: "its module is no longer in the configuration",
   delete_because_count_index: "count no longer includes it",
   delete_because_each_key: "for_each no longer includes it",
   read_because_config_unknown: "its configuration is known only after apply",
   read_because_dependency_pending: "a dependency has pending changes"}[.action_reason // ""];

def heading:
  kind as $k
  | (if $k == "create" then "+"
     elif $k == "delete" then "-"
     elif $k == "update" then "~"
     elif $k == "replace" then (if .change.actions[0] == "create" then "+/-" else "-/+" end)
     elif $k == "read" then "<="
     elif $k == "forget" then "."
     else "=" end) as $mark
  | ([(if .change.importing then "import" else empty end),
      (if $k == "create" then "create"
       elif $k == "delete" then "destroy"
       elif $k == "update" then "update in place"
       elif $k == "replace" then (if .change.actions[0] == "create" then "replace, create before destroy" else "replace" end)
       elif $k == "read" then "read"
       elif $k == "forget" then "forget: removed from the state, left in place"
       else empty end),
      (reason // empty),
      (if .previous_address then "moved from \(.previous_address)" else empty end)] | join(", ")) as $what
  | "\($mark) \(.address)  (\($what))";

def block:
  heading,
  (if kind == "update" or kind == "replace" then .change | diff_lines(.replace_paths // []) else empty end);

if (type != "object") or (has("planned_values") | not) then
  error("not a plan: pass what `terraform show -json <planfile>` prints")
else . end
| [.resource_changes // [] | .[] | select((kind != "no-op") or .change.importing or .previous_address)] as $rc
| ([$rc[] | select(.mode != "data") | kind]) as $kinds
| def count($k): [$kinds[] | select(. == $k)] | length;
  "Plan: \(count("create")) to add, \(count("update")) to change, \(count("replace")) to replace, \(count("delete")) to destroy"
  + ([$rc[] | select(.change.importing)] | length | if . > 0 then ", \(.) to import" else "" end)
  + (count("forget") | if . > 0 then ", \(.) to forget" else "" end)
  + ".",
  (if ($rc | length) == 0 then "", "No changes: the infrastructure matches the configuration." else empty end),
  ($rc[] | "", block),
  ([.output_changes // {} | to_entries[] | select(.value.actions != ["no-op"])] as $oc
   | if ($oc | length) == 0 then empty
     else "", "Outputs:",
       ($oc[] | .key as $name | .value
        | [changes(.before; .after; .after_unknown; .before_sensitive; .after_sensitive; [$name])][]
        | line)
     end),
  ([.resource_drift // [] | .[] | select(kind != "no-op")] as $drift
   | if ($drift | length) == 0 then empty
     else "", "Changed outside Terraform (the plan above already accounts for it):",
       ($drift[] | "",
        (if kind == "delete" then "- \(.address)  (deleted)"
         else "~ \(.address)  (changed)", (.change | diff_lines([])) end))
     end)
'

summary=$(jq -r "$program" "$@")

if [ "$markdown" = true ]; then
  # The first line is the heading; the rest goes in a code block whose fence is longer than any
  # run of backticks in it.
  longest=$(printf '%s\n' "$summary" | awk '{
    s = $0
    while (match(s, /`+/)) { if (RLENGTH > n) n = RLENGTH; s = substr(s, RSTART + RLENGTH) }
  } END { print n + 0 }')
  fence='```'
  while [ "${#fence}" -le "$longest" ]; do fence="$fence\`"; done
  heading=${summary%%$'\n'*}
  body=${summary#"$heading"}
  body=${body#$'\n'}
  body=${body#$'\n'}
  printf '### %s\n' "$heading"
  if [ -n "$body" ]; then
    printf '\n%stext\n%s\n%s\n' "$fence" "$body" "$fence"
  fi
else
  printf '%s\n' "$summary"
fi
