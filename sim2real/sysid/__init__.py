"""System identification from recorded data: the search space a spec spans, the replay
objective, CMA-ES in parallel, the analysis of the fit and what ``sim2real identify`` writes.

Its own package rather than part of :mod:`sim2real.transfer`: it needs neither torch nor SB3,
and a transfer strategy builds on it.
"""
