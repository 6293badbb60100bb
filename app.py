"""Linli's Chalice app: wiring only. Every way into the hub is one line here."""

from chalice.app import Chalice

from chalicelib.api import admin, errors, meta, resident, wallet
from chalicelib.handlers import device_events, device_health, money_jobs, outbox_stream

app = Chalice(app_name="linli")
app.experimental_feature_flags.update(["BLUEPRINTS"])
errors.install(app)

app.register_blueprint(meta.bp)
app.register_blueprint(admin.bp)
app.register_blueprint(resident.bp)
app.register_blueprint(wallet.bp)

# Chalice needs the stream ARN at import time; infra/ replaces it with the table's real StreamArn.
OUTBOX_STREAM_PLACEHOLDER = "arn:aws:dynamodb:cn-north-1:000000000000:table/linli-outbox/stream/placeholder"

# Each handler is bound to its own name here: Chalice builds the Lambda handler string ("app.<name>") from it.
handle_device_events = app.on_sqs_message(queue="linli-device-events", batch_size=10)(
    device_events.handle_device_events)
fan_out_outbox = app.on_dynamodb_record(stream_arn=OUTBOX_STREAM_PLACEHOLDER, batch_size=100)(
    outbox_stream.fan_out_outbox)
check_device_health = app.schedule("rate(5 minutes)")(device_health.check_device_health)
settle_withdrawals = app.schedule("rate(10 minutes)")(money_jobs.settle_withdrawals)
reconcile_ledger = app.schedule("rate(1 hour)")(money_jobs.reconcile_ledger)
