"""Scheduled money jobs: settle withdrawals stuck in flight, and reconcile the ledger."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib import bootstrap
from chalicelib.observability import logger, metrics
from chalicelib.services import ledger_audit, withdrawals


def settle_withdrawals(event: Any) -> dict[str, int]:
    counts = withdrawals.settle_open_withdrawals(bootstrap.deps())
    for name, value in counts.items():
        metrics.add_metric(name=f"Withdrawals{name.title()}", unit=MetricUnit.Count, value=value)
    metrics.flush_metrics()
    logger.info("open withdrawals: " + " ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def reconcile_ledger(event: Any) -> dict[str, int]:
    result = ledger_audit.reconcile(bootstrap.deps())
    metrics.add_metric(name="LedgerMismatches", unit=MetricUnit.Count, value=len(result.violations))
    metrics.flush_metrics()
    log = logger.error if result.violations else logger.info
    log(f"ledger reconciled: {result.accounts} accounts, {result.entries} entries, "
        f"{len(result.violations)} mismatches", extra={"violations": [v.detail for v in result.violations][:20]})
    return {"accounts": result.accounts, "entries": result.entries, "mismatches": len(result.violations)}
