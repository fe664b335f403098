"""The one table of seed streams: the stream number of every host draw (`np.random.default_rng([seed, ..., stream])`) and device key.

A run has one root seed; each random draw of the pipeline takes its own stream, so that adding a
draw never shifts another one and the same seed gives the same numbers, bit for bit. Changing a
value here changes every result drawn from it.
"""
from __future__ import annotations

# ---- the classifier's epoch loop (selfreg.loop): np.random.default_rng([seed, epoch, stream])
REAL_STREAM = 0  # batch order of the real pass
SYNTH_STREAM = 1  # batch order of synthetic pass r is SYNTH_STREAM + r
RESAMPLE_STREAM = 7  # the epoch's encoding seed when the training views are drawn afresh every epoch
# fold_in streams of a run's root key jax.random.key(seed)
KEY_MODEL, KEY_TRAIN, KEY_GENERATOR = 0, 1, 2

# ---- encoding: the (Δt, Δm) pairs or view of a part are drawn from seed * 1000 + its stream
ENCODE_STREAMS = {"train": 11, "val": 12, "test": 13}

# ---- stratified subsamples of the experiment protocol: np.random.default_rng([seed, stream])
MAX_STARS_STREAM = 0x5E1  # the cap on the whole dataset (ExperimentConfig.max_stars)
TRAIN_SUBSAMPLE_STREAM = 0x5A3  # a seed's training set drawn from the train part (sample_size)
VAL_SUBSAMPLE_STREAM = 0x5A4  # the validation set drawn from the validation part
VAE_SUBSAMPLE_STREAM = 0x7AE  # the curves the VAE trains on (vae_max_stars)

# ---- device keys of one-off synthetic sets: jax.random.fold_in(jax.random.key(seed), stream)
SYNTHETIC_TRAIN_KEY = 1  # experiments/synthetic_only.py: the synthetic training set
SYNTHETIC_VAL_KEY = 2  # experiments/synthetic_only.py: the synthetic validation set
REALISM_KEY = 3  # synth/realism.py: the synthetic curves of a generator's realism report
FIGURE_KEY_OFFSET = 7919  # report figures: synthetic curves drawn with jax.random.key(seed + 7919)
