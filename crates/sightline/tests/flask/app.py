"""One service of the gateway -> order -> payment chain used by otlp_flask.rs.

Instrumented exactly as the issue's snippet (Resource with service.name and
deployment.environment, BatchSpanProcessor, OTLPSpanExporter, Flask and
requests instrumentation); only the exporter class and endpoint differ between
the gRPC and HTTP runs.
"""
import argparse
import signal
import sys
import time

import flask
import requests
from opentelemetry import trace
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

p = argparse.ArgumentParser()
p.add_argument("--service", required=True)
p.add_argument("--port", type=int, required=True)
p.add_argument("--downstream", default="")
p.add_argument("--delay", type=float, default=0.0)
p.add_argument("--protocol", choices=["grpc", "http"], required=True)
p.add_argument("--endpoint", required=True)
args = p.parse_args()

if args.protocol == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=args.endpoint, insecure=True)
else:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=args.endpoint)

service_name = args.service
resource = Resource.create({"service.name": service_name, "deployment.environment": "production"})
provider = TracerProvider(resource=resource)
provider.add_span_processor(BatchSpanProcessor(exporter))
trace.set_tracer_provider(provider)
FlaskInstrumentor().instrument()
RequestsInstrumentor().instrument()

# FlaskInstrumentor patches flask.Flask, so the app must be built from the module
# attribute after instrument() (a `from flask import Flask` made earlier keeps the unpatched class).
app = flask.Flask(service_name)


@app.route("/health")
def health():
    return "ok"


@app.route("/work")
def work():
    if args.delay:
        time.sleep(args.delay)
    if args.downstream:
        r = requests.get(args.downstream, timeout=30)
        return f"{service_name} <- {r.text}", r.status_code
    return service_name


def stop(*_):
    # Export what the batch processor still holds before exiting.
    provider.shutdown()
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
app.run(host="127.0.0.1", port=args.port, threaded=True)
