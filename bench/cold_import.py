"""Cold start: median time of fresh interpreters, per deployed function, as a ratio to ``import boto3``.

Each sample is a whole fresh ``python -c "…"`` (interpreter start included), tracing disabled as locally
(``POWERTOOLS_TRACE_DISABLED``). The candidates are run interleaved, round after round, so that whatever
else the machine is doing weighs on all of them alike; candidates with the same code run once and share
the result.

The issue's ratio (``cold_import_ratio``) is the device-events handler *module* alone; two more for
context: the whole Chalice app (``import app``) and the handler module plus parsing one weigh-in envelope
(pydantic's models are built on first use).

Per function: every Lambda function's handler is ``app.<name>`` (``FUNCTIONS``: the API handler and every
event-source or scheduled function, named as in infra/template.yaml), so its cold start imports app.py,
then its first invocation loads what it needs lazily. That first invocation is *not* called (it would
need AWS); instead the sample does, without network, what the call would import or build before its
first AWS request:

* ``bootstrap.deps()``: every adapter, as deployed (a notification topic is configured, stage prod);
  clients are lazy, nothing is sent;
* the API handler: one real request through Chalice (``GET /healthz``) plus powertools' parameters (every
  authenticated request reads the app secret);
* SQS functions: powertools' batch utility (imported on the first batch);
* device events: parsing one weigh-in envelope (builds the pydantic models);
* functions whose job moves money or messages residents: the SDK and adapter they load on the first
  transfer, refund or WeChat message (``wechatpayv3``, ``stripe``, ``wechatpy``) — the price of a first
  run that has work to do; a run with nothing to do loads none of them.

Not included: creating the botocore clients (the first AWS call loads the service model; about the same
for every function) and the calls themselves.

``python -m bench.cold_import [rounds]`` runs this part alone (about two minutes with the default 9 rounds on an
idle machine) and prints the per-function table, then the JSON line ``python -m bench`` merges.
"""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_ENVELOPE = json.dumps({
    "payload_b64": base64.b64encode(json.dumps({"event_id": "e1", "ts": 1, "category": "paper", "weight_g": 2350,
                                                "phone": "13800138000"}).encode()).decode(),
    "topic": "dt/linli/c1/bin-1/weighin", "client_id": "bin-1", "received_at": 2})

_FIRST_PARSE = ("from chalicelib.handlers.device_messages import parse_envelope, parse_message\n"
                f"parse_message(parse_envelope({_ENVELOPE!r}))\n")

#: what a deployed function has: a notification topic (the template sets it on every function), a stage
ENV = {"POWERTOOLS_TRACE_DISABLED": "true", "PATH": "", "LINLI_STAGE": "prod", "AWS_DEFAULT_REGION": "cn-north-1",
       "LINLI_NOTIFY_TOPIC_ARN": "arn:aws-cn:sns:cn-north-1:000000000000:linli-notify"}

CANDIDATES = {
    "boto3": "import boto3",
    "device_events": "import chalicelib.handlers.device_events",
    "app": "import app",
    "device_events_first_parse": "import chalicelib.handlers.device_events\n" + _FIRST_PARSE,
}

_HEALTHZ = {"resource": "/healthz", "path": "/healthz", "httpMethod": "GET", "headers": {"Host": "bench"},
            "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
            "pathParameters": None, "stageVariables": None, "body": None, "isBase64Encoded": False,
            "requestContext": {"resourcePath": "/healthz", "httpMethod": "GET", "path": "/api/healthz",
                               "stage": "api", "requestId": "bench", "identity": {"sourceIp": "127.0.0.1"}}}

_DEPS = "import app\nfrom chalicelib import bootstrap\nbootstrap.deps()\n"
_API = f"app.app({_HEALTHZ!r}, None)\nfrom aws_lambda_powertools.utilities import parameters\n"
_BATCH = "from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response\n"
_WECHATPAY = ("from aws_lambda_powertools.utilities import parameters\n"
              "from chalicelib.adapters.wechatpay import WeChatPayClient\n"
              "from wechatpayv3 import WeChatPay, WeChatPayType\n"
              "from wechatpayv3.utils import load_public_key\n"
              "import requests\n")
_STRIPE = ("from aws_lambda_powertools.utilities import parameters\n"
           "from chalicelib.adapters.stripe_pay import StripeCardPayments\n"
           "import stripe\n")
_WECHAT = ("from aws_lambda_powertools.utilities import parameters\n"
           "from chalicelib.adapters.dynamo.tokens import DynamoTokenStore\n"
           "from chalicelib.adapters.wechat import WeChatMiniProgramClient\n"
           "from wechatpy import WeChatClient\n"
           "from wechatpy.exceptions import WeChatClientException\n"
           "import requests\n")

#: deployed function (infra/template.yaml) → (handler ``app.<name>``, what its first invocation loads)
FUNCTIONS: dict[str, tuple[str, str]] = {
    "APIHandler": ("app", _API),
    "HandleDeviceEvents": ("handle_device_events", _BATCH + _FIRST_PARSE),
    "FanOutOutbox": ("fan_out_outbox", _WECHATPAY + _STRIPE),
    "CheckDeviceHealth": ("check_device_health", ""),
    "SettleWithdrawals": ("settle_withdrawals", _WECHATPAY),
    "ReconcileLedger": ("reconcile_ledger", ""),
    "DeliverWebhooks": ("deliver_webhooks", _BATCH),
    "DispatchDueWebhooks": ("dispatch_due_webhooks", ""),
    "RunOrderJobs": ("run_order_jobs", _WECHATPAY + _STRIPE),
    "FireTimers": ("fire_timers", _BATCH),
    "RunAlarmJobs": ("run_alarm_jobs", ""),
    "NotifyResidents": ("notify_residents", _BATCH + _WECHAT),
    "NotifyStaff": ("notify_staff", _BATCH),
    "NotifyPartners": ("notify_partners", _BATCH),
    "RefreshTv": ("refresh_tv", _BATCH),
}


def _run(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure_medians(rounds: int = 9) -> dict[str, float]:
    """Median seconds per candidate name and per function name (the two name sets do not overlap)."""
    codes = dict(CANDIDATES)
    codes.update({name: _DEPS + first_call for name, (_, first_call) in FUNCTIONS.items()})
    unique = sorted(set(codes.values()), key=list(codes.values()).index)
    handlers = [handler for handler, _ in FUNCTIONS.values()]
    _run(f"import app\nassert all(callable(getattr(app, name)) for name in {handlers!r})")  # the names are app's
    for code in unique:  # compile the .pyc files and warm the page cache first
        _run(code)
    samples: dict[str, list[float]] = {code: [] for code in unique}
    for _ in range(rounds):
        for code in unique:
            samples[code].append(_run(code))
    return {name: statistics.median(samples[code]) for name, code in codes.items()}


def results_of(median: dict[str, float]) -> dict[str, float]:
    baseline = median["boto3"]
    results = {
        "import_boto3_s": round(baseline, 3),
        "import_device_events_s": round(median["device_events"], 3),
        "import_app_s": round(median["app"], 3),
        "import_device_events_first_parse_s": round(median["device_events_first_parse"], 3),
        "cold_import_ratio": round(median["device_events"] / baseline, 2),
        "cold_import_ratio_app": round(median["app"] / baseline, 2),
        "cold_import_ratio_first_parse": round(median["device_events_first_parse"] / baseline, 2),
    }
    for name, (handler, _) in FUNCTIONS.items():
        results[f"cold_start_ratio_{'api' if handler == 'app' else handler}"] = round(median[name] / baseline, 2)
    return results


def measure(rounds: int = 9) -> dict[str, float]:
    return results_of(measure_medians(rounds))


def main() -> None:
    """``python -m bench.cold_import [rounds]``"""
    started = time.perf_counter()
    median = measure_medians(int(sys.argv[1]) if len(sys.argv) > 1 else 9)
    baseline = median["boto3"]
    rows = [("import boto3", "boto3"), ("import chalicelib.handlers.device_events", "device_events"),
            ("import app", "app"), ("device_events + first parse", "device_events_first_parse")]
    rows += [(f"{name} (app.{handler})", name) for name, (handler, _) in FUNCTIONS.items()]
    width = max(len(label) for label, _ in rows)
    print(f"{'function':<{width}}  {'seconds':>7}  {'ratio':>5}")
    for label, name in rows:
        print(f"{label:<{width}}  {median[name]:>7.3f}  {median[name] / baseline:>5.2f}")
    print(json.dumps(results_of(median)))
    print(f"[cold import] {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
