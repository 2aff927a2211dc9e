"""A prometheus_client process exposing fixed-valued metrics of every type
(plus the library's default process/platform collectors) on the port given
as argv[1], for the real-target scrape test."""
import sys
import time

from prometheus_client import Counter, Gauge, Histogram, Info, Summary, start_http_server

requests = Counter("app_requests", "Requests handled.", ["method", "code"])
requests.labels("GET", "200").inc(41)
requests.labels("POST", "500").inc(2)
temperature = Gauge("app_temperature_celsius", "Room temperature.", unit="celsius")
temperature.set(21.5)
latency = Histogram("app_latency_seconds", "Latency.", buckets=[0.1, 0.5, 1.0])
for v in (0.05, 0.2, 0.7, 3.0):
    latency.observe(v)
sizes = Summary("app_payload_bytes", "Payload sizes.")
sizes.observe(100)
sizes.observe(300)
Info("app_build", "Build information.").info({"version": "1.2.3", "commit": "abc"})

start_http_server(int(sys.argv[1]), addr="127.0.0.1")
while True:
    time.sleep(3600)
