"""PyBullet, imported once with its C-level start-up banner silenced.

Env modules import ``pybullet``, ``pybullet_data`` and ``BulletClient`` from here so the
banner never lands in the CLI's tables.
"""

from sim2real.envs.quiet import quiet_c_stdout

with quiet_c_stdout():
    import pybullet
    import pybullet_data
    from pybullet_utils.bullet_client import BulletClient

__all__ = ["BoundClient", "BulletClient", "pybullet", "pybullet_data"]


class BoundClient:
    """A BulletClient whose functions are bound once: ``BulletClient`` builds a new partial
    on every attribute access, which the per-reset writers would otherwise pay each call."""

    def __init__(self, client: BulletClient):
        self._client = client

    @property
    def bullet_client(self) -> BulletClient:
        """The wrapped client (what per-client caches key on)."""
        return self._client

    def __getattr__(self, name: str):
        bound = getattr(self._client, name)
        setattr(self, name, bound)  # the next lookup finds it in __dict__
        return bound
