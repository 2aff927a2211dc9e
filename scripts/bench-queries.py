#!/usr/bin/env python3
"""Query benchmark for docs/benchmarks.md (issue 4): the RED dashboard queries
(../shared/bench/red_queries.txt) as query_range over the whole dataset, step
60s, 1 warm-up + N timed runs, timed exactly as ../shared/bench/run_peers.py
times Prometheus and VictoriaMetrics (its functions are imported), and printed
beside the peers' figures from a run_peers.py JSON of the same session.

Usage: scripts/bench-queries.py --bin target/release/sightline --dataset DIR
           [--peers /tmp/peers-small.json] [--reps 5]
           [--peer-workdir /tmp/redbench/s100000-h4-seed42 [--json OUT]]

With --peer-workdir (a run_peers.py --keep-data work dir holding prom-data/
and vm-data/ loaded from the same dataset), Prometheus and VictoriaMetrics are
started on those dirs and timed right after Sightline, one system at a time,
so all three are measured in the same quiet window (the peers' load figures
come from the run_peers.py JSON given with --peers).
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "shared", "bench"))
import run_peers  # noqa: E402  (the peers' own timing code)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--dataset", required=True, help="dir with meta.json and part-*.om")
    ap.add_argument("--peers", help="run_peers.py --json output of the same session")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--port", type=int, default=19595)
    ap.add_argument("--peer-workdir", help="run_peers.py --keep-data work dir: time the peers here too")
    ap.add_argument("--json", help="write all three systems' query figures here")
    ap.add_argument("--data", help="Sightline data dir: loaded from the dataset when empty, reused (and kept) otherwise")
    a = ap.parse_args()
    meta = json.load(open(os.path.join(a.dataset, "meta.json")))
    queries = run_peers.load_queries(os.path.join(here, "..", "..", "shared", "bench", "red_queries.txt"))
    work = tempfile.mkdtemp(prefix="sl-q-")
    data = a.data or os.path.join(work, "data")
    if not (os.path.isdir(data) and os.listdir(data)):
        for f in meta["files"]:
            subprocess.run([a.bin, "tsdb", "create-blocks-from", "openmetrics", os.path.join(a.dataset, f), data],
                           check=True, stdout=subprocess.DEVNULL)
    cfg = os.path.join(work, "empty.yml")
    open(cfg, "w").write("scrape_configs: []\n")
    base = "http://127.0.0.1:%d" % a.port
    p = subprocess.Popen([a.bin, "run", "--storage.path=" + data, "--web.listen-address=127.0.0.1:%d" % a.port,
                          "--config.file=" + cfg, "--otlp.grpc.listen-address=127.0.0.1:0",
                          "--otlp.http.listen-address=127.0.0.1:0", "--log.level=warn",
                          "--storage.tsdb.retention.time=100y"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                run_peers.http(base + "/-/ready", timeout=2)
                break
            except Exception:
                time.sleep(0.1)
        wait_settled(base, "sightline_tsdb_compactions")
        mem0 = run_peers.proc_mem(p.pid)
        res = run_peers.time_queries(base, queries, meta, a.reps)
        mem1 = run_peers.proc_mem(p.pid)
    finally:
        p.terminate()
        p.wait()
        shutil.rmtree(work, ignore_errors=True)
    peers = json.load(open(a.peers)) if a.peers else {}
    if a.peer_workdir:
        peers = time_peers(a.peer_workdir, queries, meta, a.reps, peers)
    if a.json:
        json.dump(dict(sightline=dict(queries=res, mem_before_queries=mem0, mem_after_queries=mem1),
                       prometheus=peers.get("prometheus"), victoria_metrics=peers.get("victoria-metrics"),
                       loadavg=os.getloadavg()), open(a.json, "w"), indent=1, default=str)
    P = peers.get("prometheus", {}).get("queries", {})
    V = peers.get("victoria-metrics", {}).get("queries_nocache", {})

    def cell(d):
        return "-" if not d or "median_ms" not in d else "%.1f [%.1f–%.1f]" % (d["median_ms"], d["min_ms"], d["max_ms"])

    print("| query | Sightline | Prometheus 2.42 | VictoriaMetrics 1.79 (no cache) | ratio to Prom | series S/P/V |")
    print("|---|---|---|---|---|---|")
    for name, _ in queries:
        s, pp, v = res.get(name), P.get(name), V.get(name)
        ratio = "-" if not (s and pp and "median_ms" in s and "median_ms" in pp) else "%.2f" % (s["median_ms"] / pp["median_ms"])
        ser = "/".join(str(d.get("series", "-")) if d else "-" for d in (s, pp, v))
        print("| %s | %s | %s | %s | %s | %s |" % (name, cell(s), cell(pp), cell(v), ratio, ser))
    print("\nSightline RSS before queries %s, after %s (VmHWM %s)" % (
        mem0.get("VmRSS"), mem1.get("VmRSS"), mem1.get("VmHWM")))
    pm = peers.get("prometheus", {}).get("mem_after_queries", {})
    if pm:
        print("Prometheus RSS after queries %s (VmHWM %s)" % (pm.get("VmRSS"), pm.get("VmHWM")))
    vm = peers.get("victoria-metrics", {}).get("mem_after_queries", {})
    if vm:
        print("VictoriaMetrics RSS after queries %s (VmHWM %s)" % (vm.get("VmRSS"), vm.get("VmHWM")))


def wait_settled(base, metric, quiet_s=10, timeout=300):
    """Waits until `metric` (a compaction counter) has not moved for quiet_s, so
    start-up compaction does not run under the timed queries."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        m = run_peers.scrape_metrics(base)
        v = sum(val for k, val in m.items() if k.startswith(metric))
        if v != last:
            last, since = v, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(1)


def time_peers(wd, queries, meta, reps, peers):
    """Starts Prometheus and VictoriaMetrics on run_peers.py's kept data dirs
    (the same commands it uses) and times the same queries on each."""
    out = dict(peers)
    prom = dict(out.get("prometheus") or {})
    cfg = os.path.join(wd, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 15s\n")
    cmd = [run_peers.PROMETHEUS, "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(wd, "prom-data"),
           "--web.listen-address=127.0.0.1:19090", "--storage.tsdb.retention.time=3650d",
           "--query.max-samples=500000000", "--query.timeout=10m", "--log.level=warn"]
    base = "http://127.0.0.1:19090"
    p = run_peers.start_server(cmd, os.path.join(wd, "prometheus-q.log"))
    try:
        run_peers.wait_http_ok(base + "/-/ready", 300)
        # Prometheus's first compaction tick comes ~60s after start.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if run_peers.scrape_metrics(base).get("prometheus_tsdb_compactions_triggered_total", 0) >= 1:
                break
            time.sleep(2)
        wait_settled(base, "prometheus_tsdb_compactions_total")
        prom["queries"] = run_peers.time_queries(base, queries, meta, reps)
        prom["mem_after_queries"] = run_peers.proc_mem(p.pid)
    finally:
        run_peers.stop_server(p)
    out["prometheus"] = prom
    vmr = dict(out.get("victoria-metrics") or {})
    base = "http://127.0.0.1:18428"
    cmd = [run_peers.VMBIN, "-storageDataPath=" + os.path.join(wd, "vm-data"), "-httpListenAddr=127.0.0.1:18428",
           "-retentionPeriod=100y", "-search.maxUniqueTimeseries=1000000", "-search.maxQueryDuration=10m",
           "-loggerLevel=WARN"]
    p = run_peers.start_server(cmd, os.path.join(wd, "vm-q.log"))
    try:
        run_peers.wait_http_ok(base + "/health", 120)
        run_peers.vm_wait_idle(base, 240, quiet_s=10)

        def reset_cache():
            run_peers.http(base + "/internal/resetRollupResultCache", timeout=60)

        vmr["queries_nocache"] = run_peers.time_queries(base, queries, meta, reps, before_each=reset_cache)
        vmr["mem_after_queries"] = run_peers.proc_mem(p.pid)
    finally:
        run_peers.stop_server(p)
    out["victoria-metrics"] = vmr
    return out


if __name__ == "__main__":
    main()
