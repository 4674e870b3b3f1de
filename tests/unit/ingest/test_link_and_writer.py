"""Small pure parts of mqtt-ingest: broker URLs and which database failures are retried."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from wfm_mqtt_ingest.mqtt import BrokerAddress, parse_mqtt_url
from wfm_mqtt_ingest.writer import is_transient


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("mqtt://emqx:1883", BrokerAddress("emqx", 1883, tls=False)),
        ("mqtt://127.0.0.1", BrokerAddress("127.0.0.1", 1883, tls=False)),
        ("tcp://broker:1884", BrokerAddress("broker", 1884, tls=False)),
        ("mqtts://emqx", BrokerAddress("emqx", 8883, tls=True)),
        ("ssl://emqx:9883", BrokerAddress("emqx", 9883, tls=True)),
    ],
)
def test_broker_urls(url: str, address: BrokerAddress) -> None:
    assert parse_mqtt_url(url) == address


@pytest.mark.parametrize("url", ["http://emqx:1883", "mqtt://", "emqx:1883"])
def test_bad_broker_urls(url: str) -> None:
    with pytest.raises(ValueError):
        parse_mqtt_url(url)


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (OperationalError("SELECT 1", {}, Exception("database is locked")), True),
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (DBAPIError("UPDATE", {}, _PgError("40P01")), True),  # deadlock
        (DBAPIError("UPDATE", {}, _PgError("57P01")), True),  # admin shutdown
        (DBAPIError("SELECT", {}, _PgError("42P01")), True),  # table not migrated yet
        (DBAPIError("UPDATE", {}, _PgError("22001")), False),  # value too long
        (IntegrityError("INSERT", {}, Exception("duplicate")), False),
        (KeyError("bug"), False),
    ],
)
def test_which_failures_are_retried(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient
