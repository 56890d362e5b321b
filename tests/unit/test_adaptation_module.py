"""The adaptation module (RMA phase 2): shapes for both kinds and any history length, the
History layout it reads, and a regression step that lowers the loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sim2real.lifecycle import torch_threads
from sim2real.policies.history import HistoryBuffer
from sim2real.transfer.rma.networks import AdaptationModule
from sim2real.transfer.rma.phase2 import Regression, Samples


@pytest.mark.parametrize("kind", ["cnn", "mlp"])
@pytest.mark.parametrize("steps", [1, 4, 10, 30, 50])
def test_module_maps_a_batch_of_histories_to_latents(kind, steps):
    module = AdaptationModule(
        observation_size=5, action_size=2, steps=steps, latent_size=8, kind=kind
    )
    assert module.history_size == steps * 7
    latents = module(torch.zeros(3, steps * 7))
    assert latents.shape == (3, 8)
    assert torch.isfinite(latents).all()


def test_rma_cnn_strides_over_a_50_step_history():
    module = AdaptationModule(5, 2, 50, 8, "cnn")
    convolutions = [layer for layer in module.network if isinstance(layer, torch.nn.Conv1d)]
    assert [(c.kernel_size[0], c.stride[0]) for c in convolutions] == [(8, 4), (5, 1), (5, 1)]


def test_module_pairs_each_observation_with_the_action_that_led_to_it():
    module = AdaptationModule(2, 1, 3, 4, "mlp")
    seen = {}
    module.network.register_forward_hook(lambda _, inputs, __: seen.update(x=inputs[0]))
    # History layout: o_{t-2}, o_{t-1}, o_t (2 each), then a_{t-3}, a_{t-2}, a_{t-1}.
    history = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 10.0, 20.0, 30.0]])
    module(history)
    assert seen["x"].tolist() == [[1.0, 2.0, 10.0, 3.0, 4.0, 20.0, 5.0, 6.0, 30.0]]


def test_history_buffer_matches_the_history_wrapper_layout():
    buffer = HistoryBuffer(steps=2, observation_size=1, action_size=1, envs=2)
    buffer.start(0, np.array([1.0]))
    buffer.start(1, np.array([5.0]))
    assert buffer.flat().tolist() == [[0.0, 1.0, 0.0, 0.0], [0.0, 5.0, 0.0, 0.0]]
    buffer.push(np.array([[2.0], [6.0]]), np.array([[0.5], [-0.5]]))
    assert buffer.flat().tolist() == [[1.0, 2.0, 0.0, 0.5], [5.0, 6.0, 0.0, -0.5]]
    buffer.start(1, np.array([9.0]))  # env 1's episode ended: its past is forgotten
    assert buffer.flat().tolist() == [[1.0, 2.0, 0.0, 0.5], [0.0, 9.0, 0.0, 0.0]]


@pytest.mark.parametrize("kind", ["cnn", "mlp"])
def test_regression_steps_lower_the_latent_loss(kind):
    torch.manual_seed(0)
    module = AdaptationModule(3, 1, 10, 4, kind)
    histories = torch.randn(256, 40)
    targets = torch.tanh(histories[:, :4] + histories[:, -4:])  # a function of the history
    samples = Samples(histories, torch.zeros(256, 3), targets, torch.zeros(256, 1))
    regression = Regression(module, learning_rate=1e-3, batch_size=64)
    loss = torch.nn.functional.mse_loss
    with torch.no_grad():
        before = float(loss(module(histories), targets))
    first = regression.step(samples)
    assert first == pytest.approx(before)
    with torch.no_grad():
        after_one = float(loss(module(histories), targets))
    assert after_one < before
    with torch_threads("cpu"):  # tiny batches: more threads only contend
        regression.fit(samples, epochs=5, rng=np.random.default_rng(0))
    with torch.no_grad():
        assert float(loss(module(histories), targets)) < 0.7 * before


def test_history_scaler_normalizes_the_observations_and_keeps_the_actions():
    from sim2real.policies.normalization import Normalization
    from sim2real.transfer.rma.student import history_scaler

    # Teacher statistics over [o (2), privileged (1)]; the history holds 2 steps of o and a.
    normalization = Normalization(
        norm_obs=True, norm_reward=False, obs_mean=np.array([1.0, -1.0, 5.0]),
        obs_var=np.array([4.0, 1.0, 9.0]), obs_count=1.0, ret_mean=0.0, ret_var=1.0,
        ret_count=1.0, clip_obs=2.0, clip_reward=10.0, gamma=0.99, epsilon=0.0,
    )  # fmt: skip
    scale = history_scaler(normalization, slice(0, 2), steps=2)
    flat = np.array([[3.0, -1.0, 11.0, 0.0, 0.25, -0.5]], np.float32)
    # (3-1)/2, (-1+1)/1, (11-1)/2 clipped to 2, (0+1)/1; actions as they are.
    np.testing.assert_allclose(scale(flat), [[1.0, 0.0, 2.0, 1.0, 0.25, -0.5]])
    assert history_scaler(None, slice(0, 2), 2)(flat).tolist() == flat.tolist()
    # A teacher on a 1-step window [o, a, privileged]: o's statistics are its first two entries'
    # wherever they lie; with [a, o] they would be the last two.
    shifted = history_scaler(normalization, slice(1, 3), steps=1)
    # (3+1)/1 clipped to 2, (-1-5)/3; the action as it is.
    np.testing.assert_allclose(shifted(flat[:, :3]), [[2.0, -2.0, 11.0]])


@pytest.mark.parametrize(
    ("history", "window", "expected"),
    [
        (3, 0, [4, 5]),  # o_t alone
        (3, 1, [4, 5, 8]),  # o_t, a_(t-1)
        (3, 2, [2, 3, 4, 5, 7, 8]),
        (3, 3, list(range(9))),  # the whole history
    ],
)
def test_window_indices_take_the_latest_steps_of_a_longer_history(history, window, expected):
    from sim2real.policies.history import window_indices, window_size

    # 3 steps of 2 observation entries (0-5), then 3 actions of 1 entry (6-8).
    indices = window_indices(history, window, observation_size=2, action_size=1)
    assert indices.tolist() == expected
    assert len(indices) == window_size(window, 2, 1)


def test_window_indices_refuse_a_window_longer_than_the_history():
    from sim2real.policies.history import window_indices

    with pytest.raises(ValueError, match="a window of 4 steps in a history of 3"):
        window_indices(3, 4, 2, 1)
