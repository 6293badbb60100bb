"""Settings per stage: loopback webhooks exist on the local stage only (DESIGN §5)."""

from __future__ import annotations

import pytest

from chalicelib.settings import Settings, SettingsError


@pytest.mark.parametrize("stage", ["dev", "prod"])
@pytest.mark.parametrize("value", ["true", "TRUE", "True"])
def test_a_deployed_stage_refuses_to_start_with_loopback_webhooks(stage: str, value: str) -> None:
    with pytest.raises(SettingsError, match="only on the local stage"):
        Settings.from_env({"LINLI_STAGE": stage, "LINLI_WEBHOOK_ALLOW_LOOPBACK": value})


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_a_deployed_stage_refuses_loopback_by_default(stage: str) -> None:
    assert Settings.from_env({"LINLI_STAGE": stage}).webhook_allow_loopback is False
    assert Settings.from_env({"LINLI_STAGE": stage, "LINLI_WEBHOOK_ALLOW_LOOPBACK": "false"}).webhook_allow_loopback \
        is False


def test_the_local_stage_allows_loopback_unless_told_not_to() -> None:
    assert Settings.from_env({}).webhook_allow_loopback is True
    assert Settings.from_env({"LINLI_WEBHOOK_ALLOW_LOOPBACK": "false"}).webhook_allow_loopback is False
    with pytest.raises(SettingsError, match="true or false"):
        Settings.from_env({"LINLI_STAGE": "prod", "LINLI_WEBHOOK_ALLOW_LOOPBACK": "yes"})
