"""Teacher-student adaptation (Rapid Motor Adaptation, Kumar et al. 2021): a teacher trained
with its privileged dynamics encoded to a latent, and a student that estimates the latent from
its recent observations and actions (see :mod:`sim2real.transfer.rma.training`)."""
