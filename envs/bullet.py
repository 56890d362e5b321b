"""PyBullet, imported once with its C-level start-up banner silenced.

Env modules import ``pybullet``, ``pybullet_data`` and ``BulletClient`` from here so the
banner never lands in the CLI's tables.
"""

from sim2real.envs.quiet import quiet_c_stdout

with quiet_c_stdout():
    import pybullet
    import pybullet_data
    from pybullet_utils.bullet_client import BulletClient

__all__ = ["BulletClient", "pybullet", "pybullet_data"]
