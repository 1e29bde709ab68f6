"""Settings read from the environment say which variable is wrong, in words, before anything runs."""

from __future__ import annotations

import pytest

from crest_web.env import ConfigError, env_days, env_seconds, env_share


@pytest.mark.parametrize("raw", ["0", "1", "1.5", "-0.1", "ten", "nan"])
def test_a_share_outside_0_to_1_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("CREST_SHORTFALL_ALARM_SHARE", raw)
    with pytest.raises(ConfigError, match="CREST_SHORTFALL_ALARM_SHARE must be a share between 0 and 1"):
        env_share("CREST_SHORTFALL_ALARM_SHARE", 0.1)


def test_a_share_given_or_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREST_SHORTFALL_ALARM_SHARE", "0.25")
    assert env_share("CREST_SHORTFALL_ALARM_SHARE", 0.1) == 0.25
    monkeypatch.delenv("CREST_SHORTFALL_ALARM_SHARE")
    assert env_share("CREST_SHORTFALL_ALARM_SHARE", 0.1) == 0.1


def test_a_redelivery_time_must_be_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREST_CELERY_REDELIVER_S", "an hour")
    with pytest.raises(ConfigError, match="CREST_CELERY_REDELIVER_S must be a positive number of seconds"):
        env_seconds("CREST_CELERY_REDELIVER_S", 3600.0)


@pytest.mark.parametrize("raw", ["0", "1.5", "-3", "a month", "inf"])
def test_a_retention_must_be_whole_days(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("CREST_MONITORING_KEEP_DAYS", raw)
    with pytest.raises(
        ConfigError, match="CREST_MONITORING_KEEP_DAYS must be a whole number of days, 1 or more"
    ):
        env_days("CREST_MONITORING_KEEP_DAYS", 30)


def test_a_retention_given_or_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREST_MONITORING_KEEP_DAYS", "90")
    assert env_days("CREST_MONITORING_KEEP_DAYS", 30) == 90
    monkeypatch.delenv("CREST_MONITORING_KEEP_DAYS")
    assert env_days("CREST_MONITORING_KEEP_DAYS", 30) == 30
