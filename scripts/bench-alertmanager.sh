#!/usr/bin/env bash
# Alertmanager benchmarks and differential check for docs/benchmarks.md
# (issue 6): runs ../shared/bench/alertmanager/bench.py against Sightline
# (POST→webhook latency with group_wait 0 and 30s, inhibition, resolve
# timing, 20k-alert ingest in batches of 256, GET /api/v2/alerts and
# /alerts/groups with 20k alerts, RSS/CPU), then compares the webhook
# payloads with the Alertmanager 0.25 baseline (exit 1 on any difference).
# Usage: scripts/bench-alertmanager.sh [label]   (NO_BUILD=1 skips cargo;
# PROFILE=debug uses the debug build; BASELINE=1 also re-runs Debian's
# prometheus-alertmanager in the same session for side-by-side figures.)
set -euo pipefail
cd "$(dirname "$0")/.."
label=${1:-sightline}
profile=${PROFILE:-release}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
if [ -z "${NO_BUILD:-}" ]; then
  if [ "$profile" = release ]; then cargo build --release -p sightline >&2; else cargo build -p sightline >&2; fi
fi
bin=$CARGO_TARGET_DIR/$profile/sightline
results=${RESULTS:-/tmp/sightline-bench/alertmanager}
harness=../shared/bench/alertmanager
mkdir -p "$results"
# Fresh state: alerts and the notification log left by an earlier run would
# resolve or deduplicate this run's notifications.
rm -rf "${results:?}/$label/data"
python3 "$harness/bench.py" --label "$label" --results "$results" --port 19193 --sink-port 19199 \
  --start-cmd "$bin run --alertmanager.config.file={config} --storage.path={data} --web.listen-address={listen} --web.external-url=http://{listen} --otlp.grpc.listen-address=127.0.0.1:0 --otlp.http.listen-address=127.0.0.1:0"
baseline=$harness/results/baseline-am0.25-debian
if [ -n "${BASELINE:-}" ] && command -v prometheus-alertmanager >/dev/null; then
  python3 "$harness/bench.py" --label am0.25-rerun --results "$results"
  baseline=$results/am0.25-rerun
fi
python3 "$harness/compare.py" "$baseline" "$results/$label"
