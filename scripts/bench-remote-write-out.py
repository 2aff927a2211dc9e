#!/usr/bin/env python3
"""Outbound remote write beside Prometheus (docs/benchmarks.md).

Each server receives the same synthetic samples by remote write (rw_load,
timestamps from now on) and, in the "forward" run, forwards them through its
`remote_write:` queue to rw_sink, a receiver that only counts. Per server:
CPU seconds per million samples for ingest alone and for ingest plus
forwarding (the difference is the forwarding cost), and the seconds from the
end of ingest until the sink had every sample.

Usage: scripts/bench-remote-write-out.py [--series N] [--rounds R]
       [--bin target-release/release] [--prometheus prometheus]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time, urllib.request

def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")

def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None

def wait_ready(port, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1).status == 200:
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise SystemExit(f"server on {port} not ready")

def free_port():
    import socket
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def run(kind, forward, a, work):
    port, sink_port = free_port(), free_port()
    d = os.path.join(work, f"{kind}-{'fwd' if forward else 'plain'}")
    shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
    cfg = "global: {}\n"
    if forward:
        cfg += (f"remote_write:\n  - url: http://127.0.0.1:{sink_port}/receive\n"
                f"    queue_config: {{max_samples_per_send: 2000, batch_send_deadline: 1s}}\n")
    with open(os.path.join(d, "cfg.yml"), "w") as f:
        f.write(cfg)
    log = open(os.path.join(d, "server.log"), "w")
    if kind == "sightline":
        cmd = [f"{a.bin}/sightline", "run", f"--web.listen-address=127.0.0.1:{port}",
               f"--storage.path={d}/data", "--otlp.grpc.listen-address=127.0.0.1:0",
               "--otlp.http.listen-address=127.0.0.1:0", f"--config.file={d}/cfg.yml",
               "--log.level=warn"]
    else:
        cmd = [a.prometheus, f"--config.file={d}/cfg.yml", f"--storage.tsdb.path={d}/data",
               f"--web.listen-address=127.0.0.1:{port}", "--web.enable-remote-write-receiver",
               "--log.level=warn"]
    srv = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    sink = None
    total = a.series * a.rounds
    try:
        wait_ready(port)
        if forward:
            sink = subprocess.Popen([f"{a.bin}/rw_sink", "--addr", f"127.0.0.1:{sink_port}",
                                     "--expect", str(total)], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
        time.sleep(1.0)
        cpu0 = cpu_seconds(srv.pid)
        t0 = int(time.time() * 1000)
        load = subprocess.run([f"{a.bin}/rw_load", "--addr", f"127.0.0.1:{port}",
                               "--series", str(a.series), "--rounds", str(a.rounds),
                               "--t0", str(t0), "--connections", "4"],
                              capture_output=True, text=True, check=True)
        ingest_end = time.time()
        lag = None
        if forward:
            line = sink.stdout.readline()
            lag = time.time() - ingest_end
            if not line.startswith("samples="):
                raise SystemExit(f"sink: {line!r}")
        cpu1 = cpu_seconds(srv.pid)
        rss = rss_mib(srv.pid)
        rate = next((l for l in (load.stdout + load.stderr).splitlines() if l.startswith("samples_per_second")), "")
        return {"server": kind, "forward": forward, "samples": total,
                "cpu_s_per_million": round((cpu1 - cpu0) / total * 1e6, 3),
                "seconds_after_ingest_until_all_forwarded": None if lag is None else round(lag, 2),
                "rss_mib": rss,
                "ingest": rate.strip()}
    finally:
        srv.terminate(); srv.wait()
        if sink:
            sink.kill(); sink.wait()

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--series", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=50)
    p.add_argument("--bin", default=os.environ.get("CARGO_TARGET_DIR", "target") + "/release")
    p.add_argument("--prometheus", default="prometheus")
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="rw-out-")
    results = []
    for _ in range(a.repeat):
        for kind in ("sightline", "prometheus"):
            for forward in (False, True):
                r = run(kind, forward, a, work)
                print(json.dumps(r), flush=True)
                results.append(r)
    shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    main()
