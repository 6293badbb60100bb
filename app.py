"""Linli's Chalice app: wiring only. Every way into the hub is one line here."""

from chalice.app import Chalice

from chalicelib.api import admin, alarms, callbacks, errors, meta, orders, orders_admin, partner, resident, wallet
from chalicelib.api import console as console_api
from chalicelib.api import doors as doors_api
from chalicelib.api import home as home_api
from chalicelib.api import irrigation as irrigation_api
from chalicelib.api import money_admin as money_admin_api
from chalicelib.api import notices as notices_api
from chalicelib.api import notify as notify_api
from chalicelib.api import tasks as tasks_api
from chalicelib.api import tv as tv_api
from chalicelib.api import usage as usage_api
from chalicelib.handlers import device_events, device_health, money_jobs, order_jobs, outbox_stream, webhook_jobs
from chalicelib.handlers import notify_channels as notify_jobs
from chalicelib.handlers import timers as timer_jobs

app = Chalice(app_name="linli")
app.experimental_feature_flags.update(["BLUEPRINTS"])
errors.install(app)

app.register_blueprint(meta.bp)
app.register_blueprint(admin.bp)
app.register_blueprint(resident.bp)
app.register_blueprint(wallet.bp)
app.register_blueprint(orders.bp)
app.register_blueprint(orders_admin.bp)
app.register_blueprint(partner.bp)
app.register_blueprint(home_api.bp)
app.register_blueprint(callbacks.bp)
app.register_blueprint(alarms.bp)
app.register_blueprint(tasks_api.bp)
app.register_blueprint(doors_api.bp)
app.register_blueprint(usage_api.bp)
app.register_blueprint(irrigation_api.bp)
app.register_blueprint(notices_api.bp)
app.register_blueprint(tv_api.bp)
app.register_blueprint(notify_api.bp)
app.register_blueprint(money_admin_api.bp)
app.register_blueprint(console_api.bp)

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
run_order_jobs = app.schedule("rate(1 minute)")(order_jobs.run_order_jobs)
deliver_webhooks = app.on_sqs_message(queue="linli-webhook-deliveries", batch_size=10)(webhook_jobs.deliver_webhooks)
dispatch_due_webhooks = app.schedule("rate(1 minute)")(webhook_jobs.dispatch_due_webhooks)
fire_timers = app.on_sqs_message(queue="linli-timers", batch_size=10)(timer_jobs.fire_timers)
run_alarm_jobs = app.schedule("rate(1 minute)")(timer_jobs.run_alarm_jobs)
notify_residents = app.on_sqs_message(queue="linli-notify-residents", batch_size=10)(notify_jobs.notify_residents)
notify_staff = app.on_sqs_message(queue="linli-notify-staff", batch_size=10)(notify_jobs.notify_staff)
notify_partners = app.on_sqs_message(queue="linli-notify-partners", batch_size=10)(notify_jobs.notify_partners)
refresh_tv = app.on_sqs_message(queue="linli-notify-tv", batch_size=10)(notify_jobs.refresh_tv)
