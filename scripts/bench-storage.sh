#!/usr/bin/env bash
# Storage benchmarks for docs/benchmarks.md (issue 2): remote-write ingest rate,
# bytes/sample on disk, memory per active series, restart time with a large WAL.
# Usage: scripts/bench-storage.sh [small|medium] [--peers]
#   BENCH_DIR (default /tmp/sightline-bench) holds datasets and scratch data;
#   SECTIONS (default "backfill rw mem") picks what to run; NO_BUILD=1 skips cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-small}
peers=${2:-}
BENCH_DIR=${BENCH_DIR:-/tmp/sightline-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
mkdir -p "$BENCH_DIR"
SECTIONS=${SECTIONS:-backfill rw mem}
want() { case " $SECTIONS " in *" $1 "*) return 0;; *) return 1;; esac; }
[ -n "${NO_BUILD:-}" ] || cargo build --release -p sightline -p sightline-bench >&2
bin=$CARGO_TARGET_DIR/release
ds=$BENCH_DIR/red-$preset
if [ ! -f "$ds/meta.json" ]; then
  python3 ../shared/bench/gen_red_dataset.py --preset "$preset" --out "$ds" >&2
fi
files=$(ls "$ds"/part-*.om)
samples=$(python3 -c "import json;print(json.load(open('$ds/meta.json'))['samples'])")
port=19191

# The server is not our child (started in a subshell): poll until it is gone.
gone() { while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }
wait_ready() { for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && return 0; sleep 0.1; done; return 1; }
start() { "$bin/sightline" run --web.listen-address=127.0.0.1:$port --storage.path="$1" \
  --otlp.grpc.listen-address=127.0.0.1:0 --otlp.http.listen-address=127.0.0.1:0 \
  --config.file=scripts/bench-empty.yml --log.level=warn >/dev/null 2>>"$BENCH_DIR/server.log" & echo $!; }

if want backfill; then
echo "## backfill ($preset RED: $samples samples)"
rm -rf "$BENCH_DIR/backfill"; mkdir -p "$BENCH_DIR/backfill"
t0=$(date +%s.%N)
for f in $files; do /usr/bin/time -f "backfill_cpu_seconds %U %S maxrss_kib %M" "$bin/sightline" tsdb create-blocks-from openmetrics "$f" "$BENCH_DIR/backfill" >/dev/null; done
t1=$(date +%s.%N)
bytes=$(du -sb "$BENCH_DIR/backfill" | cut -f1)
python3 - "$t0" "$t1" "$bytes" "$samples" <<'PY'
import sys
t0,t1,b,s=map(float,sys.argv[1:])
print(f"backfill_seconds {t1-t0:.2f}\nbackfill_samples_per_second {s/(t1-t0):.0f}\nbytes_on_disk {b:.0f}\nbytes_per_sample {b/s:.3f}")
PY
fi

if want rw; then
echo "## remote-write ingest ($preset RED)"
rm -rf "$BENCH_DIR/rw"
pid=$(start "$BENCH_DIR/rw"); wait_ready
"$bin/rw_load" --addr 127.0.0.1:$port --pid "$pid" $(for f in $files; do echo --files "$f"; done) --connections 4
kill -9 "$pid"; gone "$pid"
t0=$(date +%s.%N); pid=$(start "$BENCH_DIR/rw"); wait_ready; t1=$(date +%s.%N)
echo "restart_seconds_red $(python3 -c "print(round($t1-$t0,2))")"
kill "$pid"; gone "$pid"
fi

want mem && for n in 100000 1000000; do
  echo "## memory and restart with $n series"
  rm -rf "$BENCH_DIR/mem"
  pid=$(start "$BENCH_DIR/mem"); wait_ready; sleep 1
  base=$(grep VmRSS /proc/$pid/status | awk '{print $2}')
  "$bin/rw_load" --addr 127.0.0.1:$port --pid "$pid" --series $n --rounds 4 --connections 4
  sleep 2
  rss=$(grep VmRSS /proc/$pid/status | awk '{print $2}')
  echo "rss_base_kib $base rss_after_kib $rss bytes_per_series $(( (rss - base) * 1024 / n ))"
  kill -9 "$pid"; gone "$pid"
  t0=$(date +%s.%N); pid=$(start "$BENCH_DIR/mem"); wait_ready; t1=$(date +%s.%N)
  echo "restart_seconds_${n}_series $(python3 -c "print(round($t1-$t0,2))")"
  kill "$pid"; gone "$pid"
done

if [ "$peers" = "--peers" ]; then
  echo "## peers (Prometheus 2.42, VictoriaMetrics 1.79) on the same dataset"
  ../shared/bench/run_peers.sh "$preset" --json "$BENCH_DIR/peers-$preset.json" --workdir "$BENCH_DIR/peers"
fi
