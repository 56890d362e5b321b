"""sim2real: domain-randomized PyBullet worlds, SB3 training, transfer and evaluation."""

from sim2real import envs  # noqa: F401  (registers the sim2real/ gymnasium environments)

__version__ = "0.1.0"
