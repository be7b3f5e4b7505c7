"""``assay profile`` loads its libraries with the garbage collector off, then freezes them and turns it on again."""

from __future__ import annotations

import gc

import pytest

import assay.cli
from assay.cli._profile import _collector_off_while_loading


@pytest.fixture
def collector():
    yield
    gc.unfreeze()  # (what a test froze is collectable again)
    gc.enable()


def test_collector_is_off_while_loading_then_on_with_the_loaded_objects_frozen(monkeypatch, collector):
    monkeypatch.setattr(assay.cli, "STANDALONE", True)
    gc.unfreeze()
    with _collector_off_while_loading():
        assert not gc.isenabled()
        loaded = [[i] for i in range(1000)]  # objects the collector tracks
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(loaded)


def test_a_program_calling_main_keeps_its_collector(monkeypatch, collector):
    monkeypatch.setattr(assay.cli, "STANDALONE", False)
    before = gc.get_freeze_count()
    with _collector_off_while_loading():
        assert gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == before
