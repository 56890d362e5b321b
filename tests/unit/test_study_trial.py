"""One process per study trial: a trial started again waits for an earlier attempt's process."""

import threading
from types import SimpleNamespace

import pytest
from filelock import FileLock

from sim2real.io import write_json
from sim2real.study import trial


@pytest.fixture
def finished_trial(tmp_path):
    write_json(tmp_path / trial.TRIAL_FILE, {trial.TIME_ATTR: 64, "metric": 1.5})
    return tmp_path


STUDY = SimpleNamespace(spec=SimpleNamespace(metric="mean_return"))


def test_a_trial_held_by_another_process_fails_after_the_timeout(finished_trial, monkeypatch):
    monkeypatch.setattr(trial, "LOCK_TIMEOUT_S", 0.2)
    reports = []
    held = FileLock(finished_trial / trial.LOCK_FILE)
    with held, pytest.raises(RuntimeError, match="another process has held this trial for 0.2 s"):
        trial.run_trial(STUDY, {}, finished_trial, reports.append)
    assert reports == []


def test_a_trial_started_again_waits_for_the_earlier_attempt(finished_trial, monkeypatch):
    monkeypatch.setattr(trial, "LOCK_TIMEOUT_S", 30)  # a failure, not a hang, if never released
    reports = []
    held = FileLock(finished_trial / trial.LOCK_FILE, thread_local=False)  # released by a timer
    held.acquire()
    releaser = threading.Timer(0.5, held.release)
    releaser.start()
    record = trial.run_trial(STUDY, {}, finished_trial, reports.append)
    assert not held.is_locked  # it read the trial only once the holder let go
    assert record["metric"] == 1.5
    assert reports == [{trial.TIME_ATTR: 64, "mean_return": 1.5}]
