#!/usr/bin/env bash
# Stops a broker started by start.sh: SIGTERM (a clean shutdown), SIGKILL after 15 s.
#   infra/kafka/stop.sh DIR [--remove]   (--remove also deletes DIR)
set -euo pipefail
dir="${1:?usage: infra/kafka/stop.sh DIR [--remove]}"
remove="${2:-}"
if [[ -f "$dir/kafka.pid" ]]; then
  pid="$(cat "$dir/kafka.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/kafka.pid"
fi
[[ "$remove" != "--remove" ]] || rm -rf "$dir"
