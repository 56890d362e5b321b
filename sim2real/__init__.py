"""sim2real: domain-randomized PyBullet worlds, SB3 training, transfer and evaluation."""

from sim2real import envs  # noqa: F401  (registers the sim2real/ gymnasium environments)

__version__ = "0.1.0"


def train(*args, **kwargs):
    """Train from an ExperimentConfig or a YAML path; see :func:`sim2real.training.train`.

    Imported on call so ``import sim2real`` stays free of torch and stable-baselines3.
    """
    from sim2real.training import train as _train

    return _train(*args, **kwargs)
