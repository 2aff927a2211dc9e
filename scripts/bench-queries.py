#!/usr/bin/env python3
"""Query benchmark for docs/benchmarks.md (issue 4): the RED dashboard queries
(../shared/bench/red_queries.txt) as query_range over the whole dataset, step
60s, 1 warm-up + N timed runs, timed exactly as ../shared/bench/run_peers.py
times Prometheus and VictoriaMetrics (its functions are imported), and printed
beside the peers' figures from a run_peers.py JSON of the same session.

Usage: scripts/bench-queries.py --bin target/release/sightline --dataset DIR
           [--peers /tmp/peers-small.json] [--reps 5]
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
    a = ap.parse_args()
    meta = json.load(open(os.path.join(a.dataset, "meta.json")))
    queries = run_peers.load_queries(os.path.join(here, "..", "..", "shared", "bench", "red_queries.txt"))
    work = tempfile.mkdtemp(prefix="sl-q-")
    data = os.path.join(work, "data")
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
        mem0 = run_peers.proc_mem(p.pid)
        res = run_peers.time_queries(base, queries, meta, a.reps)
        mem1 = run_peers.proc_mem(p.pid)
    finally:
        p.terminate()
        p.wait()
        shutil.rmtree(work, ignore_errors=True)
    peers = json.load(open(a.peers)) if a.peers else {}
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


if __name__ == "__main__":
    main()
