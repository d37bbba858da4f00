#!/usr/bin/env bash
# Fetches the Kafka broker's jars from Maven Central into infra/kafka/lib/ (pom.xml names them). Idempotent: does
# nothing when lib/ was completed from the current pom.xml. Safe to run concurrently (flock). Needs Java and Maven.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

stamp_of() { sha256sum pom.xml | cut -d' ' -f1; }
complete() { [[ -f lib/.complete && "$(cat lib/.complete)" == "$(stamp_of)" ]]; }

complete && exit 0
command -v mvn >/dev/null || { echo "infra/kafka/fetch.sh: mvn not found (install Debian's maven)" >&2; exit 1; }

mkdir -p target # git-ignored: the lock and the half-fetched copy live here
exec 9>"$here/target/.fetch.lock"
flock 9
complete && exit 0 # another run fetched it while we waited

partial="$here/target/lib.partial"
rm -rf "$partial"
log="$(mktemp)"
if ! mvn -q -B -Dstyle.color=never dependency:copy-dependencies -DoutputDirectory="$partial" >"$log" 2>&1; then
  echo "infra/kafka/fetch.sh: mvn dependency:copy-dependencies failed:" >&2
  tail -n 30 "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
stamp_of >"$partial/.complete"
rm -rf lib
mv "$partial" lib
