"""Studies: many train (+ transfer) + evaluate trials on Ray Tune, and one report across them.

:mod:`spec` (the study file), :mod:`trial` (one trial), :mod:`metrics` (the number a study
optimizes) and :mod:`report` need no Ray; :mod:`tune` runs the trials and is the only module
that imports Ray (the optional ``ray`` extra), imported by ``sim2real study`` alone.
"""
