#!/usr/bin/env bash
# Runs one test tier with pytest. pytest exits with 5 when it collected no test;
# that must fail the run, because an empty tier would otherwise pass silently.
set -uo pipefail

tier="$1"
shift
.venv/bin/python -m pytest "tests/$tier" "$@"
status=$?
if [[ $status -eq 5 ]]; then
    echo "run-tier: no test was collected in tests/$tier; a tier must not be empty" >&2
    exit 1
fi
exit $status
