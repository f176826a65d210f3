"""Each gunicorn worker freezes the loaded app out of the garbage collector's sight."""

from __future__ import annotations

import gc

from scheduler import gunicorn_conf


def test_a_worker_freezes_what_is_loaded_and_collects_the_young_less_often() -> None:
    thresholds = gc.get_threshold()
    try:
        gunicorn_conf.post_worker_init(None)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == gunicorn_conf.GC_THRESHOLDS
        assert gc.get_threshold()[0] > thresholds[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
