"""Pre-training from random initialisation and the pre-training grid (issue 23, item 2).

One idea per module: :mod:`.config` (the dataclass and named configs), :mod:`.model` (a Llama built from
scratch), :mod:`.data` (held-out split, packed training and evaluation windows), :mod:`.train` (the
nanoGPT loop and cross-entropy), :mod:`.run` (one run and its record), :mod:`.grid` (plan, resumable
execution, metrics), :mod:`.stats` (r^2 and the nested bootstrap), :mod:`.figure`, :mod:`.cli`.
See docs/pretrain.md.
"""
