"""`get_logger`: the 3.x structured logger, on the standard-library logging tree."""

import logging

from reactor_runtime import get_logger


def test_fields_follow_the_message_as_key_value_pairs(caplog):
    log = get_logger("tests.logs")
    with caplog.at_level(logging.INFO, logger="tests.logs"):
        log.info("loaded 100%", weights="w.pt", seconds=1.5)
        log.debug("hidden", x=1)
    assert [r.getMessage() for r in caplog.records] == ["loaded 100% weights='w.pt' seconds=1.5"]
    assert caplog.records[0].name == "tests.logs"
    assert caplog.records[0].funcName == "test_fields_follow_the_message_as_key_value_pairs"
