"""Training from a config: vectorized envs + SB3 model + callbacks -> a run directory.

``train(config)`` builds everything that can fail on bad input (evaluation envs, training
envs, the model) before it creates the run directory, so a bad config leaves nothing behind.
It then trains with a progress bar, evaluates on nominal dynamics, under DR and on every
target (periodically and at the end), checkpoints atomically, and writes the summary.

SIGINT / SIGTERM during training stop it at the next step; a final checkpoint, the model and
its normalization are saved and ``run.json`` says ``"status": "interrupted"`` (with
``"interrupted_by"``); ``train(..., resume=True)`` continues from the latest checkpoint that
loads (a newer unreadable one is set aside with a warning). A fault in learning itself (a
crashed env worker) saves the same and says ``"status": "failed"`` with the ``"error"``;
faults in logging and evaluation are warnings (see :mod:`sim2real.lifecycle`).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from sim2real.callbacks.adr import AdrCallback
from sim2real.config import ExperimentConfig, config_to_dict, load_config, sb3_kwargs
from sim2real.env_workers import ReportErrors, WorkerVecEnv, ignore_stop_signals
from sim2real.envs.wrappers import with_history_input
from sim2real.episode_recorder import EpisodeRecorder
from sim2real.errors import UserError, describe
from sim2real.evaluation.conditions import (
    Condition,
    evaluation_conditions,
    transfer_conditions,
)
from sim2real.evaluation.training_eval import make_condition_envs
from sim2real.hyperparams import ON_POLICY, algorithm_class, hyperparam
from sim2real.lifecycle import NON_FINITE_FIELD, RunLifecycle, torch_threads
from sim2real.policies.normalization import load_normalization
from sim2real.policies.weights import WEIGHTS_FILE, load_policy_weights
from sim2real.runs import (
    CHECKPOINT_META_FILE,
    MODEL_FILE,
    NORMALIZATION_FILE,
    REPLAY_BUFFER_FILE,
    Run,
    check_run_dir_free,
    create_run,
    default_run_dir,
    empty_evaluations,
    now_iso,
    read_checkpoint,
    remove_staging,
    set_aside_checkpoint,
    truncate_evaluations,
)
from sim2real.transfer.adr import AutomaticDR
from sim2real.transfer.adr_run import STATE_KEY as ADR_STATE_KEY
from sim2real.transfer.adr_run import make_adr, restore_adr, write_adr_file
from sim2real.warm_start import load_initial_policy

SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf")
MLP_POLICIES = ("MlpPolicy", "MlpLstmPolicy")


def select_device(algorithm: str, policy: str, requested: str, source: str) -> tuple[str, str]:
    """``(device, reason)``. ``auto``: GPU for off-policy and image policies, else CPU."""
    has_cuda = torch.cuda.is_available()
    if requested == "cuda":
        if not has_cuda:
            raise UserError(
                f"{source}: field 'device' = 'cuda'; no CUDA GPU is visible to torch "
                f"{torch.__version__}; use 'auto' or 'cpu'"
            )
        return "cuda", "requested by the config"
    if requested == "cpu":
        return "cpu", "requested by the config"
    if algorithm in ON_POLICY and policy in MLP_POLICIES:
        unused = "; the GPU stays unused" if has_cuda else ""
        return "cpu", (
            f"device auto: {algorithm} with {policy} runs faster on CPU, as SB3's maintainers "
            f"advise for on-policy MLP policies{unused}"
        )
    if has_cuda:
        kind = "off-policy gradient updates" if algorithm not in ON_POLICY else "image policies"
        return "cuda", f"device auto: a CUDA GPU is available and {kind} benefit from it"
    return "cpu", "device auto: no CUDA GPU is available"


@dataclass(frozen=True)
class EnvFactory:
    """Builds one training env (picklable, so SubprocVecEnv workers can call it)."""

    env_id: str
    randomization: Any
    kwargs: Mapping[str, Any]
    in_worker: bool = False  # a SubprocVecEnv worker (see sim2real.env_workers)
    history_steps: int = 0  # > 0: the observation is the last k observations and actions

    def __call__(self) -> gym.Env:
        if self.in_worker:
            ignore_stop_signals()
        env = gym.make(self.env_id, randomization=self.randomization, **dict(self.kwargs))
        env = Monitor(EpisodeRecorder(with_history_input(env, self.history_steps)))
        return ReportErrors(env) if self.in_worker else env


def make_training_env(config: ExperimentConfig) -> VecEnv:
    """``n_envs`` randomized envs (dummy or subproc), ``VecNormalize``d when configured."""
    subproc = config.vec_env == "subproc"
    env_config = config.env
    factory = EnvFactory(
        env_config.id, config.randomization, env_config.kwargs, subproc, env_config.history_steps
    )
    factories = [factory] * config.n_envs
    venv: VecEnv = WorkerVecEnv(factories, config.env.id) if subproc else DummyVecEnv(factories)
    normalize = config.normalize
    if normalize.observations or normalize.rewards:
        venv = VecNormalize(
            venv,
            norm_obs=normalize.observations,
            norm_reward=normalize.rewards,
            clip_obs=normalize.clip_obs,
            gamma=float(hyperparam(config.algorithm.name, config.algorithm.hyperparams, "gamma")),
        )
    return venv


def build_model(config: ExperimentConfig, venv: VecEnv, device: str, source: str) -> BaseAlgorithm:
    cls = algorithm_class(config.algorithm.name)
    policy, kwargs = config.algorithm.policy, sb3_kwargs(config.algorithm)
    if config.algorithm.asymmetric:
        from sim2real.policies.asymmetric import asymmetric_policy

        policy = asymmetric_policy(config.algorithm.name)
        # The privileged entries come last, after a history too (envs/wrappers.py).
        privileged = len(venv.get_attr("privileged_names", indices=[0])[0])
        deployable = int(venv.observation_space.shape[0]) - privileged
        kwargs["policy_kwargs"] = {
            **kwargs.get("policy_kwargs", {}),
            "deployable_observations": deployable,
        }
    if config.adaptation is not None and config.env.kwargs.get("privileged"):
        # An adaptation teacher: its features extractor encodes the privileged dynamics.
        kwargs["policy_kwargs"] = {**kwargs.get("policy_kwargs", {}), **_teacher_kwargs(config)}
    try:
        return cls(policy, venv, seed=config.seed, device=device, verbose=0, **kwargs)
    except (ValueError, AssertionError, TypeError) as error:
        # TypeError: a keyword SB3 passes on that its class does not take (optimizer_kwargs,
        # rollout_buffer_kwargs, features_extractor_kwargs ...).
        problem = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise UserError(
            f"{source}: field 'algorithm' = {config.algorithm.name!r}; "
            f"stable-baselines3 rejected the hyperparameters: {problem}"
        ) from None


def model_from_weights(
    config: ExperimentConfig, weights: Path, venv: VecEnv | None, device: str
) -> BaseAlgorithm:
    """A model built from ``config`` holding the arrays of ``weights`` (a ``weights.npz``).

    Without ``venv`` the model is built on one nominal env of the config, which is closed
    again: the model then predicts but has no env to learn on.
    """
    from sim2real.transfer.rma.training import is_student_config, teacher_config

    if is_student_config(config):  # an adaptation run's model is its teacher's
        config = teacher_config(config, str(weights))
    if venv is None:
        model = untrained_model(config, device, str(weights))
    else:
        model = build_model(config, venv, device, str(weights))
    load_policy_weights(model, weights)
    return model


def untrained_model(config: ExperimentConfig, device: str, source: str) -> BaseAlgorithm:
    """The model ``config`` builds, on one nominal env that is closed again: it predicts (and
    shows its networks) but has no env to learn on."""
    env_config = config.env
    factory = EnvFactory(
        env_config.id, None, env_config.kwargs, history_steps=env_config.history_steps
    )
    venv = DummyVecEnv([factory])
    try:
        with warnings.catch_warnings():
            # SB3 checks batch_size against one env's rollout here; this model never learns.
            warnings.filterwarnings("ignore", "You have specified a mini-batch size")
            model = build_model(config, venv, device, source)
    finally:
        venv.close()
    model.env = None
    return model


def _teacher_kwargs(config: ExperimentConfig) -> dict[str, Any]:
    from sim2real.transfer.rma.networks import body_input_size, teacher_policy_kwargs

    adaptation = config.adaptation
    assert adaptation is not None
    body = body_input_size(config.env.id, config.randomization, config.env)
    return teacher_policy_kwargs(body, adaptation.latent_size, adaptation.encoder_layers)


def load_checkpoint_model(
    config: ExperimentConfig, checkpoint: Path, venv: VecEnv, device: str
) -> BaseAlgorithm:
    """The model of a checkpoint, on ``venv``, with schedules rebuilt from the config.

    Rebuilding the schedules (rather than unpickling the saved closures) keeps the learning
    rate following the config; SB3 computes its progress from the original total timesteps.
    A directory with ``weights.npz`` instead of a model zip (a zoo entry) is rebuilt from the
    config.
    """
    normalization_file = checkpoint / NORMALIZATION_FILE
    if isinstance(venv, VecNormalize) and normalization_file.is_file():
        load_normalization(normalization_file).restore_into(venv)
    if not (checkpoint / MODEL_FILE).is_file() and (checkpoint / WEIGHTS_FILE).is_file():
        model = model_from_weights(config, checkpoint / WEIGHTS_FILE, venv, device)
        model.set_random_seed(config.seed)
        return model
    kwargs = sb3_kwargs(config.algorithm)
    custom = {key: kwargs[key] for key in SCHEDULE_KEYS if key in kwargs}
    cls = algorithm_class(config.algorithm.name)
    model = cls.load(checkpoint / MODEL_FILE, env=venv, device=device, custom_objects=custom)
    replay_buffer = checkpoint / REPLAY_BUFFER_FILE
    if replay_buffer.is_file():
        model.load_replay_buffer(replay_buffer)
    # Fresh env seeds for the rest of the run (a resumed run must not replay its first episodes).
    model.set_random_seed(config.seed + int(model.num_timesteps))
    return model


def _as_config(config: ExperimentConfig | str | Path) -> tuple[ExperimentConfig, str | None]:
    if isinstance(config, ExperimentConfig):
        return config, None
    return load_config(config), str(config)


@dataclass
class _Session:
    """What one call of :func:`train` works with."""

    config: ExperimentConfig
    run: Run | None  # resuming it
    source: str


@dataclass(frozen=True)
class _Adr:
    """Automatic domain randomization's state and its history of bound moves."""

    state: AutomaticDR
    history: list[dict[str, Any]]


@dataclass(frozen=True)
class _Resumed:
    """The checkpoint a resumed run continues from."""

    path: Path
    meta: dict[str, Any]  # its checkpoint.json
    unreadable: list[str]  # newer checkpoints that did not load, set aside


def _resume_model(
    config: ExperimentConfig, run: Run, venv: VecEnv, device: str
) -> tuple[BaseAlgorithm, _Resumed]:
    """The model of the newest checkpoint that loads, on ``venv``.

    A newer checkpoint that does not load (truncated, a file missing) is renamed aside (see
    :func:`sim2real.runs.set_aside_checkpoint`) with a one-line warning; none loading is a
    UserError naming each one's problem.
    """
    problems: list[tuple[Path, Exception]] = []
    for checkpoint in reversed(run.checkpoints()):
        try:
            meta = read_checkpoint(checkpoint.path)
            model = load_checkpoint_model(config, checkpoint.path, venv, device)
        except Exception as error:
            problems.append((checkpoint.path, error))
            continue
        for path, error in problems:
            aside = set_aside_checkpoint(path)
            warnings.warn(
                f"{path.name} is unreadable ({describe(error)}); resuming from "
                f"{checkpoint.path.name} instead (the unreadable one is kept as {aside})",
                RuntimeWarning,
                stacklevel=2,
            )
        return model, _Resumed(checkpoint.path, meta, [path.name for path, _ in problems])
    found = "; ".join(f"{path.name}: {describe(error)}" for path, error in problems)
    raise UserError(f"{run.path}: no checkpoint loads ({found}); train it again with --overwrite")


def _prepare(
    config: ExperimentConfig | str | Path | None,
    run_dir: str | Path | None,
    overwrite: bool,
    resume: bool,
    source: str | None,
) -> tuple[_Session, Path]:
    if not resume:
        if config is None:
            raise UserError("train: give a config (or resume=True with the run directory)")
        cfg, path_source = _as_config(config)
        path = Path(run_dir) if run_dir is not None else default_run_dir(cfg.name, cfg.seed)
        check_run_dir_free(path, overwrite)
        return _Session(cfg, None, source or path_source or f"config {cfg.name!r}"), path
    if run_dir is None:
        raise UserError("--resume: give the run directory to continue")
    run = Run.open(run_dir)
    cfg = run.config
    if config is not None and config_to_dict(_as_config(config)[0]) != config_to_dict(cfg):
        raise UserError(
            f"{run.config_path}: differs from the config given; a resumed run continues with "
            "its own config (omit the config to resume)"
        )
    meta = run.meta
    if meta.get("status") == "finished":
        raise UserError(
            f"{run.path}: field 'status' = 'finished' ({meta.get('timesteps')} timesteps); "
            "nothing to resume, train a new run instead"
        )
    if run.latest_checkpoint() is None:
        again = "run the transfer again" if "transfer" in meta else "train it again"
        raise UserError(
            f"{run.path}: no checkpoint to resume from (checkpoint.freq_steps = "
            f"{cfg.checkpoint.freq_steps}); {again} with --overwrite"
        )
    return _Session(cfg, run, str(run.config_path)), run.path


def train(
    config: ExperimentConfig | str | Path | None = None,
    run_dir: str | Path | None = None,
    overwrite: bool = False,
    resume: bool = False,
    *,
    progress_bar: bool = True,
    verbose: bool = True,
    source: str | None = None,
    on_evaluation: Callable[[int, Mapping[str, np.ndarray]], None] | None = None,
) -> Run:
    """Train ``config`` (an ExperimentConfig or a YAML path) into ``run_dir``; returns the Run.

    ``run_dir`` defaults to ``runs/<config name>-seed<seed>``; an existing run directory is
    replaced only with ``overwrite``. ``resume=True`` continues the run at ``run_dir`` from its
    latest checkpoint (``config`` may be omitted; if given it must equal the run's).
    ``source`` names the config file in error messages. ``on_evaluation`` receives every
    evaluation during training (timesteps, per-episode returns by condition).
    """
    if config is not None:
        config, path_source = _as_config(config)
        source = source or path_source
    adaptation_config = _resumed_config(run_dir) if resume else config
    if adaptation_config is not None:
        from sim2real.transfer.rma.training import is_student_config, train_adaptation

        if is_student_config(adaptation_config):
            return train_adaptation(
                config,
                run_dir,
                overwrite=overwrite,
                resume=resume,
                progress_bar=progress_bar,
                verbose=verbose,
                source=source or f"config {adaptation_config.name!r}",
                on_evaluation=on_evaluation,
            )
    session, path = _prepare(config, run_dir, overwrite, resume, source)
    cfg = session.config
    say: Callable[[str], None] = print if verbose else _quiet
    device, reason = select_device(
        cfg.algorithm.name, cfg.algorithm.policy, cfg.device, session.source
    )
    conditions = _conditions(cfg, session.run)
    eval_envs: dict[str, VecEnv] = {}
    venv: VecEnv | None = None
    resumed: _Resumed | None = None
    adr: _Adr | None = None
    try:  # everything that can reject the config, before the run directory exists
        eval_envs = make_condition_envs(cfg, conditions)
        venv = make_training_env(cfg)
        if cfg.adr is not None:
            adr = _Adr(make_adr(cfg), [])
        if session.run is not None:
            run = session.run
            model, resumed = _resume_model(cfg, run, venv, device)
            if adr is not None:
                where = str(resumed.path / CHECKPOINT_META_FILE)
                adr = _Adr(*restore_adr(cfg, resumed.meta.get(ADR_STATE_KEY), where))
            remove_staging(run)
        else:
            model = build_model(cfg, venv, device, session.source)
            initial = (
                load_initial_policy(cfg, model, venv, session.source, path)
                if cfg.init_from
                else None
            )
            start = {"init_from": initial} if initial is not None else None
            run = create_run(path, cfg, overwrite=overwrite, device=device, meta=start)
            if initial is not None:
                say(f"starting from {initial['model']} ({initial['timesteps']:,} timesteps)")
                left_out = initial.get("left_out_of_critic", [])
                if left_out:
                    shown = ", ".join(left_out[:3]) + (", ..." if len(left_out) > 3 else "")
                    say(f"left out of the critic: {len(left_out)} privileged entries ({shown})")
    except BaseException:
        _close(venv, eval_envs)
        raise
    try:
        with torch_threads(device):
            return _learn(
                cfg,
                run,
                model,
                conditions,
                eval_envs,
                resumed,
                adr,
                device,
                reason,
                say,
                progress_bar,
                on_evaluation,
            )
    finally:
        _close(venv, eval_envs)


def _conditions(cfg: ExperimentConfig, resumed: Run | None) -> list[Condition]:
    """A resumed transfer run goes on evaluating on what it started with."""
    if resumed is not None and "transfer" in resumed.meta:
        return transfer_conditions(cfg.targets[0])
    return evaluation_conditions(cfg)


def _resumed_config(run_dir: str | Path | None) -> ExperimentConfig | None:
    """The config of the run to resume, when there is one (_prepare says what is wrong)."""
    if run_dir is None or not (Path(run_dir) / "run.json").is_file():
        return None
    return Run.open(run_dir).config


class _Training(RunLifecycle):
    """A training run: periodic checkpoints, and one more when stopped, to resume from."""

    def __init__(
        self,
        run: Run,
        model: BaseAlgorithm,
        cfg: ExperimentConfig,
        conditions: Sequence[Condition],
        eval_envs: Mapping[str, VecEnv],
        say: Callable[[str], None],
        progress_bar: bool,
        history: dict[str, Any],
        non_finite_episodes: int,
        adr: _Adr | None = None,
        on_evaluation: Callable[[int, Mapping[str, np.ndarray]], None] | None = None,
    ):
        super().__init__(
            run,
            model,
            cfg,
            conditions,
            eval_envs,
            say,
            progress_bar,
            history,
            non_finite_episodes,
            on_evaluation,
        )
        self.adr: AdrCallback | None = None
        if adr is not None:
            self.adr = AdrCallback(
                adr.state,
                seed=cfg.seed + int(model.num_timesteps),  # a resumed run draws anew
                write=functools.partial(write_adr_file, run),
                history=adr.history,
                report=self.report,
                on_error=self.warnings.failed,
                warmup_steps=cfg.adr.warmup_steps,
            )

    def checkpoint_fields(self) -> dict[str, Any]:
        """What a checkpoint records for the run to continue from (ADR: also into adr.json)."""
        fields = super().checkpoint_fields()
        if self.adr is not None:
            fields[ADR_STATE_KEY] = self.adr.record()
            self.adr.save()
        return fields

    def driving_callbacks(self) -> list[BaseCallback]:
        return [self.adr] if self.adr is not None else []

    def finished_title(self, timesteps: int) -> str:
        return (
            f"\nfinal evaluation after {timesteps:,} timesteps "
            f"({self.config.evaluation.episodes} episodes per condition):"
        )


def _learn(
    cfg: ExperimentConfig,
    run: Run,
    model: BaseAlgorithm,
    conditions: Sequence[Condition],
    eval_envs: dict[str, VecEnv],
    resumed: _Resumed | None,
    adr: _Adr | None,
    device: str,
    reason: str,
    say: Callable[[str], None],
    progress_bar: bool,
    on_evaluation: Callable[[int, Mapping[str, np.ndarray]], None] | None,
) -> Run:
    start = int(model.num_timesteps)
    if resumed is not None:
        say(
            f"resuming {run.path} from {resumed.path.name} ({start:,} of "
            f"{cfg.total_timesteps:,} timesteps)"
        )
        if cfg.algorithm.name not in ON_POLICY and not cfg.checkpoint.save_replay_buffer:
            say("note: checkpoint.save_replay_buffer is false, so the replay buffer restarts empty")
    else:
        say(
            f"training {cfg.algorithm.name} on {cfg.env.id} for {cfg.total_timesteps:,} "
            f"timesteps -> {run.path}"
        )
    threads = f", {torch.get_num_threads()} torch thread" if device == "cpu" else ""
    say(f"device: {device}{threads} ({reason})")
    if cfg.adr is not None and cfg.adr.warmup_steps >= cfg.total_timesteps:
        say(
            f"note: adr.warmup_steps ({cfg.adr.warmup_steps:,}) is not below total_timesteps, "
            "so no ADR bound will move: the run trains on the initial ranges"
        )
    say(f"TensorBoard: tensorboard --logdir {run.tb_dir}")
    history = truncate_evaluations(run.evaluations(), start) if resumed else empty_evaluations()
    non_finite = int(resumed.meta.get(NON_FINITE_FIELD, 0)) if resumed else 0
    training = _Training(
        run,
        model,
        cfg,
        conditions,
        eval_envs,
        say,
        progress_bar,
        history,
        non_finite,
        adr,
        on_evaluation,
    )
    if training.adr is not None:
        training.adr.prime(model.get_env())  # before learn resets the envs
    if resumed is not None:
        resume = {"timesteps": start, "at": now_iso(), "checkpoint": resumed.path.name}
        if resumed.unreadable:
            resume["unreadable"] = resumed.unreadable
        resumes = [*run.meta.get("resumes", []), resume]
        run.update_meta(status="running", interrupted_by=None, error=None, resumes=resumes)
    run.update_meta(status="running", device=device, timesteps=start)
    return training.learn(
        cfg.total_timesteps - start,
        reset_num_timesteps=resumed is None,
        resume_step=start if resumed is not None else None,
    )


def _close(venv: VecEnv | None, eval_envs: Mapping[str, VecEnv]) -> None:
    if venv is not None:
        venv.close()
    for env in eval_envs.values():
        env.close()


def _quiet(message: str) -> None:
    del message
