#!/usr/bin/env bash
# Runs a command and checks both its exit status and that its output (stdout+stderr) matches a regex.
# usage: expect.sh <exit-status> <extended-regex> <command> [args...]
want_status=$1 regex=$2
shift 2
out=$("$@" 2>&1)
status=$?
printf '%s\n' "$out"
if [[ $status -ne $want_status ]]; then echo "expect.sh: exit status $status, expected $want_status"; exit 1; fi
if ! grep -Eq -- "$regex" <<<"$out"; then echo "expect.sh: output does not match /$regex/"; exit 1; fi
