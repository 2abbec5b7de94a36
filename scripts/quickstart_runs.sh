#!/usr/bin/env bash
# The README quick start's two commands, each time on a fresh clone (of what is committed)
# in a fresh venv; RUNS="1 2 3 4 5" by default. Prints one line per run.
set -u -o pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
for i in ${RUNS:-1 2 3 4 5}; do
  dir=$(mktemp -d /tmp/quickstart.XXXXXX)
  git clone -q "$root" "$dir/calfrules" && cd "$dir/calfrules"
  python3.11 -m venv .venv && . .venv/bin/activate
  pip install -q --upgrade pip >/dev/null 2>&1
  start=$(date +%s)
  pip install -q . > "$dir/install1.log" 2>&1 && calfrules assess examples/cases/sore_calves_after_layoff.json > "$dir/assess.txt"
  rc1=$?
  pip install -q -e '.[test]' ./examples/tibpost_pack > "$dir/install2.log" 2>&1 && pytest -q -p no:cacheprovider > "$dir/pytest.log" 2>&1
  rc2=$?
  echo "run $i: command 1 exit $rc1 ($(head -n 1 "$dir/assess.txt")), command 2 exit $rc2 ($(tail -n 1 "$dir/pytest.log")), $(( $(date +%s) - start )) s, 'Fatal Python' lines: $(grep -c 'Fatal Python' "$dir/pytest.log")"
  if [ "$rc2" != 0 ]; then cp "$dir/pytest.log" "/tmp/quickstart-run-$i-pytest.log"; echo "  pytest output kept in /tmp/quickstart-run-$i-pytest.log"; fi
  deactivate; cd /; rm -rf "$dir"
done
