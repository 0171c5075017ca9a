"""The study of ``snnrl tune`` without Ray: median pruning on the mean over a trial's seeds,
failed trials, the study's settings, and continuing the trials a stopped driver left running."""

import dataclasses

import pytest

optuna = pytest.importorskip("optuna")

from snnrl.distributed.study import SearchSettings, StudyError, StudyServer, open_study  # noqa: E402

NU = "network.connections.0.rule.params.nu"
SETTINGS = SearchSettings(agent="cue_bandit", env="cue_bandit", space=(f"{NU}=choice(0.002, 0.2)",),
                          seeds_per_trial=2, episodes=30, eval_interval=5, pruner_startup_trials=1, sampler_seed=0)


@pytest.fixture
def storage(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    assert open_study(url, "s", SETTINGS, resume=False) == SETTINGS
    return url


def test_pruning_sees_the_mean_of_the_seeds_after_the_warm_up(storage):
    server = StudyServer(storage, "s", SETTINGS)
    good, params = server.ask()
    assert set(params) == {NU} and params[NU] in (0.002, 0.2)
    for step in (10, 20, 30):
        assert server.report(good, 0, step, 20.0) is False
        assert server.report(good, 1, step, 18.0) is False
    assert server.finish(good, 19.0, None, {"scores": [20.0, 18.0]}) == "complete"
    bad, _ = server.ask()
    assert server.report(bad, 0, 5, -20.0) is False
    assert server.report(bad, 1, 5, -20.0) is False  # step 5 is in the warm-up (a third of 30 episodes)
    assert server.report(bad, 0, 10, -20.0) is False  # the other seed has not reported step 10 yet
    assert server.report(bad, 1, 10, -16.0) is True  # mean -18 < the median 19 of the finished trial there
    assert server.report(bad, 0, 15, 20.0) is True and server.is_pruned(bad)
    assert server.finish(bad, None, None, {}) == "pruned"
    failed, _ = server.ask()
    assert server.finish(failed, None, "seed index 1: its worker died", {"scores": [3.0]}) == "failed"
    assert server.finished() == 3
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert trials[good].intermediate_values == {10: 19.0, 20: 19.0, 30: 19.0} and trials[good].value == 19.0
    assert trials[good].user_attrs["scores"] == [20.0, 18.0]
    assert trials[bad].state.name == "PRUNED" and trials[bad].intermediate_values == {5: -20.0, 10: -18.0}
    assert trials[failed].state.name == "FAIL" and trials[failed].user_attrs["error"].endswith("worker died")


def test_a_new_server_continues_the_trials_left_running(storage):
    server = StudyServer(storage, "s", SETTINGS)
    number, params = server.ask()
    server.report(number, 0, 10, 20.0)
    server.report(number, 1, 10, 10.0)
    del server  # the driver stopped; the trial stays RUNNING in the storage
    again = StudyServer(storage, "s", SETTINGS)
    assert again.start() == [(number, params)]
    assert again.report(number, 0, 10, 20.0) is False  # a resumed run reports its checkpoint's evaluations again
    again.report(number, 1, 10, 10.0)
    assert again.report(number, 0, 20, 20.0) is False
    assert again.report(number, 1, 20, 20.0) is False
    assert again.finish(number, 17.5, None, {}) == "complete"
    (trial,) = optuna.load_study(study_name="s", storage=storage).trials
    assert trial.number == number and trial.intermediate_values == {10: 15.0, 20: 20.0} and trial.value == 17.5


def test_the_study_settings_are_kept_and_checked(storage):
    with pytest.raises(StudyError, match="a study 's' exists"):
        open_study(storage, "s", SETTINGS, resume=False)
    with pytest.raises(StudyError, match="no study 'other'"):
        open_study(storage, "other", SETTINGS, resume=True)
    assert open_study(storage, "s", dataclasses.replace(SETTINGS, space=()), resume=True) == SETTINGS
    with pytest.raises(StudyError, match="ran with episodes = 30, not 40"):
        open_study(storage, "s", dataclasses.replace(SETTINGS, episodes=40), resume=True)
