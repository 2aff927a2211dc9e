#!/usr/bin/env bash
# Runs Sightline's whole test suite on a fresh Debian machine: installs the
# real peers and clients the tests drive (Prometheus, promtool, Alertmanager,
# amtool, node exporter from Debian; OpenTelemetry SDKs and friends from PyPI),
# then `cargo test --workspace`.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

debs=()
command -v prometheus >/dev/null || debs+=(prometheus)
command -v amtool >/dev/null || debs+=(prometheus-alertmanager)
command -v prometheus-node-exporter >/dev/null || debs+=(prometheus-node-exporter)
if [ ${#debs[@]} -gt 0 ]; then
  echo "installing Debian packages: ${debs[*]}"
  # Containers have no init: keep the packages from trying to start their services.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
  fi
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null
fi

if [ -s scripts/requirements-test.txt ]; then
  python3 -m pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
fi

# A clean clone gains nothing from incremental compilation: it would only
# add gigabytes of session files to the build (CI's disk is not large).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
df -h . | tail -1 | awk '{print "disk free before the build: " $4}'

# The conformance corpora's counts, printed first (cargo hides the output of
# passing tests); the full suite below runs them again with everything else.
# `--workspace` keeps one feature resolution, so these builds are the same
# artifacts the full suite then reuses.
echo "== conformance summaries"
cargo test -q --workspace --test integration -- --nocapture --exact \
    prometheus_testdata::prometheus_config_testdata \
    openmetrics_conformance::openmetrics_conformance \
    conformance::promql_conformance \
    promtool::promtool_unit_tests \
    config_testdata::config_testdata_matches_expectations 2>/dev/null \
  | grep -E 'config testdata:|openmetrics conformance:|promql conformance:|float evals passed|promtool unit tests:|config-testdata' \
  | sed -E 's|promtool unit tests: ([0-9]+) passed, ([0-9]+) failed|promtool unit-test fixtures: \1 groups pass, \2 fail (expected; crates/rules/tests/promtool.rs lists which and why)|' || true
# Upstream's promtool fixtures include groups written to fail (and one needing
# native histograms); that test asserts exactly which, hence "expected" above.
echo "== full test suite"

exec cargo test --workspace "$@"
