"""The synthetic light-curve generator: priors -> latent -> VAE decoder -> reverse fold -> encoder, one jitted program.

Shape suffixes: see `jaxpelsvae` (package docstring). N counts the slots of one generated batch (its static capacity).

`Generator.generate(key, counts_per_class, b)` fills a fixed number of slots (the total rounded up to
`GeneratorConfig.capacity_multiple`) with class-blocked labels computed on device from the counts, so
a regeneration with other counts but the same rounded total reuses the compiled program; slots past
the total are flagged `slot_valid_N = False` (drop them with `SynthBatch.trim()`). With
`repeats=R` every decoded template is reverse-folded R times (each with its own donor, phase, noise
and encoding draw) into R consecutive output rows: the original's `n_oversampling`, which turned one
decoded curve into several classifier inputs, at 1/R of the decoder's cost per curve. With the MLP latent
model the whole chain is one jitted program; with the random forest (not traceable) it is two jitted
stages with the forest's prediction on the host between them.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpelsvae.data.provenance import write_provenance
from jaxpelsvae.errors import ConfigError
from jaxpelsvae.json_io import json_default
from jaxpelsvae.physics.latent import LatentModel, mlp_sample
from jaxpelsvae.physics.priors import PhysPriors, sample_physics
from jaxpelsvae.synth.reverse_fold import DonorBank, Source, check_bank_classes, synthesize_batch
from jaxpelsvae.synth.stars import StarBank, check_star_weights, noise_factor, posterior_sample


LATENT_SOURCES = ("posterior", "prior")


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    """Generation settings.

    seq_length / order: the classifier encoding (the same `encode_batch` as real curves).
    k_nearest: donors drawn uniformly among the k nearest in log10 period within the class.
    target_snr: > 0 rescales the donor's errors so amplitude / median error equals it; 0 keeps them.
    capacity_multiple: slot counts are rounded up to a multiple of this (fewer recompiles).
    decode_chunk: curves decoded at once inside the program (bounds activation memory; 0 = by backend:
        16 on CPU, where the decoder is compute-bound and small chunks stay in cache, else 512).
    donor_max_len: donor cadences longer than this keep a contiguous window of this many
        consecutive points (random start), so synthetic Δt are the donor's own.
    latent_source: "posterior" (codes from the encoder posteriors of the training stars of the
        class, with their periods, physics, amplitudes: `synth.stars`) or "prior" (physics sampled
        from the priors, mapped to codes by the physics -> latent model: the original's path).
    """

    seq_length: int = 300
    order: str = "random"
    k_nearest: int = 5
    target_snr: float = 0.0
    capacity_multiple: int = 128
    decode_chunk: int = 0
    donor_max_len: int = 1000
    latent_source: str = "posterior"

    def __post_init__(self):
        if self.latent_source not in LATENT_SOURCES:
            raise ConfigError(f"GeneratorConfig.latent_source must be one of {LATENT_SOURCES}, got {self.latent_source!r}")


class SynthBatch(NamedTuple):
    """One generated batch (N slots). x_NL2 / valid_NL: classifier input and its mask; y_N class
    index; phys_NP model-space physics; period_N [d]; slot_valid_N: slot holds a requested curve;
    z_NZ latent codes; template_NG decoded normalised template; time_NT (days since the donor's first
    epoch), mag_NT, err_NT [mag], mask_NT: the raw synthetic curves; donor_N index into the donor bank;
    star_N: the training star whose posterior the code was drawn from (-1 in the prior mode)."""

    x_NL2: jax.Array
    valid_NL: jax.Array
    y_N: jax.Array
    phys_NP: jax.Array
    period_N: jax.Array
    slot_valid_N: jax.Array
    z_NZ: jax.Array
    template_NG: jax.Array
    time_NT: jax.Array
    mag_NT: jax.Array
    err_NT: jax.Array
    mask_NT: jax.Array
    donor_N: jax.Array
    star_N: jax.Array

    def trim(self) -> "SynthBatch":
        """Host copy with only the valid slots (numpy arrays)."""
        keep = np.asarray(self.slot_valid_N)
        return SynthBatch(*(np.asarray(a)[keep] for a in self))


def slot_labels(counts_K, capacity: int):
    """Class-blocked labels (N,) int32 and validity (N,) for `capacity` slots from per-class counts."""
    ends_K = jnp.cumsum(counts_K)
    slots = jnp.arange(capacity)
    labels = jnp.searchsorted(ends_K, slots, side="right")
    return jnp.minimum(labels, counts_K.shape[0] - 1).astype(jnp.int32), slots < ends_K[-1]


def _vae_phase_grid():
    """(cycles (G,), the decoder's normalised phase axis (G,)): the axis the VAE was trained on."""
    from jaxpelsvae.data.fold import PHASE_GRID, PHASE_GRID_VAE

    return np.asarray(PHASE_GRID, np.float32), np.asarray(PHASE_GRID_VAE, np.float32)


class Generator:
    """Holds priors (arrays), the latent model, the VAE decoder (graphdef + state), the donor bank,
    and the training stars' encodings (`synth.stars.StarBank`, the posterior mode).

    classes: generator class order (labels y index into it). vae_classes: the VAE's one-hot order
    (every generator class must be one of them). star_ids: (S,) ids of the stars of `stars`.
    """

    def __init__(self, priors: PhysPriors, latent: LatentModel, vae_model, vae_classes, bank: DonorBank,
                 config: GeneratorConfig = GeneratorConfig(), *, vae_scaler=None, report: dict | None = None,
                 donor_ids=None, stars: StarBank | None = None, star_ids=None):
        from flax import nnx

        self.classes = tuple(priors.classes)
        self.priors, self.latent, self.config, self.bank_host = priors, latent, config, bank
        self.report = dict(report or {})
        # `with_donors`: the generator it was made from, observing at the training stars' own cadences
        # (in memory only, not saved): what the realism report judges against held-out stars of the
        # training survey.
        self.own_cadences: Generator | None = None
        # (D,) id of the star whose cadence and errors each donor of the bank carries; None for a
        # generator saved before they were recorded (synthetic curves then name the bank row)
        self.donor_ids = None if donor_ids is None else np.asarray(donor_ids, dtype=str)
        if self.donor_ids is not None and self.donor_ids.shape != (len(bank.label_D),):
            raise ConfigError(f"generator: {self.donor_ids.shape[0]} donor ids for {len(bank.label_D)} donors")
        self.vae_classes = tuple(vae_classes) if vae_classes else self.classes
        missing = [c for c in self.classes if c not in self.vae_classes]
        if missing:
            raise ConfigError(f"generator: classes {missing} are not in the VAE's classes {self.vae_classes}")
        check_bank_classes(bank, len(self.classes), self.classes)
        if bank.pair_ok_DT is None:  # a bank saved before pairs were kept: every consecutive pair counts
            bank = bank._replace(pair_ok_DT=np.asarray(bank.mask_DT, bool).copy())
            self.bank_host = bank
        params = priors.config.params
        if "period" not in params:
            raise ConfigError("generator: the physical parameters must include 'period'")
        self._period_col = params.index("period")
        self._period_is_log = "period" in priors.config.log10_params
        self.vae_model = vae_model
        self.vae_scaler = vae_scaler
        if hasattr(vae_model, "eval"):  # generation never uses dropout
            vae_model.eval()
        self._graphdef, self._vae_state = nnx.split(vae_model)
        self._to_vae = jnp.asarray([self.vae_classes.index(c) for c in self.classes], jnp.int32)
        self._n_vae = int(vae_model.config.num_classes)
        self._feed_pp = bool(getattr(vae_model.config, "feed_pp", False))
        if self._feed_pp:
            if vae_scaler is None or any(n not in params for n in vae_scaler.names):
                raise ConfigError("generator: the VAE decodes with physics (feed_pp); its scaler's parameters "
                                  f"must be among the priors' {params}")
            self._vae_phys_idx = np.array([params.index(n) for n in vae_scaler.names], np.int32)
        self._phase_cycles_G, self._phase_vae_G = _vae_phase_grid()
        self._prior_arrays = priors.device_arrays()
        self._bank = DonorBank(*(None if a is None else jnp.asarray(a) for a in bank))
        if config.latent_source == "posterior":
            if stars is None:
                raise ConfigError("generator: the posterior mode needs the training stars' encodings (a StarBank); "
                                  "use latent_source='prior' or refit the generator")
            if np.asarray(stars.mu_SZ).shape[1] != int(vae_model.config.latent_dim):
                raise ConfigError(f"generator: star codes have {np.asarray(stars.mu_SZ).shape[1]} dimensions, "
                                  f"the VAE {vae_model.config.latent_dim}")
            check_star_weights(np.ones(len(stars.label_S)), stars, len(self.classes))
        self.stars = stars
        self.star_ids = None if star_ids is None else np.asarray(star_ids, dtype=str)
        self._stars = None if stars is None else StarBank(*(jnp.asarray(a) for a in stars))
        self._compiled: dict[int, Any] = {}

    # -- the program ------------------------------------------------------------------------------

    # Arrays enter the jitted programs as arguments (`consts`), not as baked-in constants, so the
    # donor bank and the decoder weights are not copied into the compiled program.
    def _consts(self, star_weights=None) -> dict:
        mlp = self.latent.mlp_params if self.latent.kind == "mlp" else None
        consts = {"priors": self._prior_arrays, "bank": self._bank, "vae": self._vae_state, "mlp": mlp}
        if self._stars is not None:
            w = (np.ones(len(self.stars.label_S), np.float32) if star_weights is None
                 else check_star_weights(star_weights, self.stars, len(self.classes)))
            consts.update(stars=self._stars, star_weight=jnp.asarray(w))
        return consts

    def _sample_physics(self, consts, key, counts_K, b, capacity: int):
        labels_N, valid_N = slot_labels(counts_K, capacity)
        phys_NP = sample_physics(key, consts["priors"], labels_N, b, candidates=self.priors.config.candidates,
                                 truncate=self.priors.config.truncate)
        return labels_N, valid_N, phys_NP

    def _latent_mlp(self, consts, key, phys_NP, labels_N):
        return mlp_sample(consts["mlp"], self.latent.stats, key, phys_NP, labels_N,
                          noise=self.latent.report.get("config", {}).get("sample_noise", True))

    def _decode(self, consts, z_NZ, labels_N, phys_NP):
        from flax import nnx

        model = nnx.merge(self._graphdef, consts["vae"])
        onehot = jax.nn.one_hot(self._to_vae[labels_N], self._n_vae, dtype=jnp.float32)
        phase = jnp.broadcast_to(jnp.asarray(self._phase_vae_G), (z_NZ.shape[0], self._phase_vae_G.shape[0]))
        phys = None
        if self._feed_pp:
            lo = jnp.asarray(self.vae_scaler.data_min, jnp.float32)
            hi = jnp.asarray(self.vae_scaler.data_max, jnp.float32)
            phys = (phys_NP[:, self._vae_phys_idx] - lo) / jnp.where(hi > lo, hi - lo, 1.0)
        chunk = self.config.decode_chunk or (16 if jax.default_backend() == "cpu" else 512)
        chunk = min(chunk, z_NZ.shape[0])

        def dec(args):
            z, oh, ph, pp = args
            return model.decode(z[None], oh[None], ph[None], None if pp is None else pp[None])[0]

        if chunk >= z_NZ.shape[0]:
            return model.decode(z_NZ, onehot, phase, phys)
        return jax.lax.map(dec, (z_NZ, onehot, phase, phys), batch_size=chunk)

    def _curves(self, consts, key, labels_N, valid_N, phys_NP, z_NZ, rf_noise: bool, repeats: int = 1, star_N=None):
        from jaxpelsvae.data.encode import encode_batch

        k_z, k_syn, k_enc = jax.random.split(key, 3)
        if rf_noise:  # random forest: add its out-of-bag residual spread on device
            z_NZ = z_NZ + jnp.asarray(self.latent.rf_sigma_Z) * jax.random.normal(k_z, z_NZ.shape, jnp.float32)
        template_NG = self._decode(consts, z_NZ, labels_N, phys_NP)
        if star_N is not None:  # the detail the decoder misses (synth.stars)
            template_NG = template_NG + consts["stars"].detail_SG[star_N]
        lp = phys_NP[:, self._period_col]
        log10_period_N = lp if self._period_is_log else jnp.log10(jnp.maximum(lp, 1e-6))
        # each template decoded once and reverse-folded `repeats` times (output rows i*R .. i*R+R-1)
        source = Source()
        if star_N is not None:  # the star the code came from: its amplitude, level, scatter, SNR, noise share; not its cadence
            st = consts["stars"]
            amp_N, err_N = st.amplitude_S[star_N], st.err_S[star_N]
            snr_N = jnp.where(err_N > 0, amp_N / jnp.maximum(err_N, 1e-12), 0.0)
            source = Source(amp_N, st.mag_lo_S[star_N], st.red_sigma_S[star_N], st.white_sigma_S[star_N], snr_N,
                            noise_factor(st, star_N), st.donor_S[star_N])
        else:
            star_N = jnp.full(labels_N.shape, -1, jnp.int32)
        syn = synthesize_batch(k_syn, template_NG, log10_period_N, labels_N, consts["bank"],
                               jnp.asarray(self._phase_cycles_G), k_nearest=self.config.k_nearest,
                               target_snr=self.config.target_snr, repeats=repeats, source=source)
        if repeats > 1:
            labels_N, valid_N, phys_NP, z_NZ, template_NG, log10_period_N, star_N = (
                jnp.repeat(a, repeats, axis=0)
                for a in (labels_N, valid_N, phys_NP, z_NZ, template_NG, log10_period_N, star_N))
        x_NL2, valid_NL = encode_batch(syn.time, syn.mag, syn.mask, k_enc, length=self.config.seq_length,
                                       order=self.config.order, pair_ok_NT=syn.pair_ok)
        return SynthBatch(x_NL2, valid_NL, labels_N, phys_NP, jnp.power(10.0, log10_period_N), valid_N, z_NZ,
                          template_NG, syn.time, syn.mag, syn.err, syn.mask, syn.donor, star_N)

    def _programs(self, capacity: int, repeats: int):
        if (capacity, repeats) in self._compiled:
            return self._compiled[capacity, repeats]

        def keys(key):
            return jax.random.split(key, 3)

        if self.config.latent_source == "posterior":
            progs = (jax.jit(self._posterior_program(capacity, repeats)),)
        elif self.latent.kind == "mlp":
            progs = (jax.jit(self._mlp_program(capacity, repeats)),)
        else:
            def stage_a(consts, key, counts_K, b):
                k_phys, _, _ = keys(key)
                return self._sample_physics(consts, k_phys, counts_K, b, capacity)

            def stage_b(consts, key, labels_N, valid_N, phys_NP, z_NZ):
                _, _, k_cur = keys(key)
                return self._curves(consts, k_cur, labels_N, valid_N, phys_NP, z_NZ,
                                    self.latent.report.get("config", {}).get("sample_noise", True), repeats)

            progs = (jax.jit(stage_a), jax.jit(stage_b))
        self._compiled[capacity, repeats] = progs
        return progs

    def _posterior_program(self, capacity: int, repeats: int):
        """The pure posterior-mode program ``fn(consts, key, counts_K, b) -> SynthBatch``."""

        def fn(consts, key, counts_K, b):
            k_star, _, k_cur = jax.random.split(key, 3)
            labels_N, valid_N = slot_labels(counts_K, capacity)
            star_N, z_NZ, phys_NP = posterior_sample(k_star, consts["stars"], labels_N, consts["star_weight"], b,
                                                     self._period_col, self._period_is_log)
            return self._curves(consts, k_cur, labels_N, valid_N, phys_NP, z_NZ, False, repeats, star_N)

        return fn

    # -- generation from Python -------------------------------------------------------------------

    def decode(self, z_NZ, classes, phys_NP=None):
        """Decoded templates (N, 600) in the VAE's normalised units for latent codes z_NZ (N, Z) of
        classes (N,) (names or indices into `classes`); phys_NP (N, P) model-space physics, needed
        only by a VAE that decodes with them (feed_pp). Jitted on first use of each shape."""
        labels = np.asarray([self.classes.index(c) if isinstance(c, str) else int(c) for c in np.ravel(classes)],
                            np.int32)
        z = jnp.asarray(z_NZ, jnp.float32)
        if z.ndim != 2 or z.shape != (len(labels), int(self.vae_model.config.latent_dim)):
            raise ConfigError(f"decode: z must be (N, {self.vae_model.config.latent_dim}) for N = {len(labels)} "
                              f"classes, got {z.shape}")
        if phys_NP is None:
            if self._feed_pp:
                raise ConfigError("decode: this VAE decodes with physical parameters; pass phys_NP")
            phys_NP = jnp.zeros((len(labels), len(self.priors.config.params)), jnp.float32)
        if "decode" not in self._compiled:
            self._compiled["decode"] = jax.jit(self._decode)
        return self._compiled["decode"](self._consts(), z, jnp.asarray(labels), jnp.asarray(phys_NP, jnp.float32))

    def generate_from_stars(self, key, stars, b: float = 1.0, *, repeats: int = 1) -> SynthBatch:
        """Synthetic curves made from given training stars (posterior mode): ``stars`` are ids (see
        `star_ids`) or indices into the star bank, one slot each, in that order (repeat a star for
        several curves). Everything else as `generate`."""
        if self.stars is None:
            raise ConfigError("generate_from_stars: this generator holds no training stars (prior mode)")
        stars = list(np.ravel(stars))
        if stars and isinstance(stars[0], str):
            if self.star_ids is None:
                raise ConfigError("generate_from_stars: this generator was saved without star ids; pass indices")
            where = {s: i for i, s in enumerate(self.star_ids)}
            unknown = [s for s in stars if s not in where]
            if unknown:
                raise ConfigError(f"generate_from_stars: unknown stars {unknown[:5]}")
            stars = [where[s] for s in stars]
        idx = np.asarray(stars, np.int64)
        if idx.size == 0 or (idx < 0).any() or (idx >= len(self.stars.label_S)).any():
            raise ConfigError(f"generate_from_stars: need star indices in [0, {len(self.stars.label_S)}), got {idx[:5]}")
        capacity = self.capacity_for(len(idx))
        slot_star = np.zeros(capacity, np.int32)
        slot_star[: len(idx)] = idx
        fn = self._compiled.setdefault(("stars", capacity, repeats), jax.jit(self._stars_program(capacity, repeats)))
        return fn(self._consts(), key, jnp.asarray(slot_star), jnp.int32(len(idx)), jnp.float32(b))

    def _stars_program(self, capacity: int, repeats: int):
        def fn(consts, key, star_N, n_valid, b):
            k_z, _, k_cur = jax.random.split(key, 3)
            st = consts["stars"]
            labels_N, valid_N = st.label_S[star_N], jnp.arange(capacity) < n_valid
            eps = jax.random.normal(k_z, (capacity, st.mu_SZ.shape[1]), jnp.float32)
            z_NZ = st.mu_SZ[star_N] + st.sigma_SZ[star_N] * eps / jnp.sqrt(b)
            return self._curves(consts, k_cur, labels_N, valid_N, st.phys_SP[star_N], z_NZ, False, repeats, star_N)

        return fn

    def functional(self, capacity: int, *, repeats: int = 1, star_weights=None):
        """(params, generate) with ``generate(params, key, counts_K, b) -> SynthBatch`` a pure function
        of arrays (counts_K: (K,) int32 in `classes` order, summing to at most `capacity`), to call
        inside a user's own `jax.jit` / `jax.vmap`. The MLP and posterior modes only (the random
        forest runs on the host)."""
        if self.config.latent_source == "prior" and self.latent.kind != "mlp":
            raise ConfigError("functional: the random-forest latent model is not traceable; use the MLP or the "
                              "posterior mode")
        params = self._consts(star_weights)
        if self.config.latent_source == "posterior":
            return params, self._posterior_program(int(capacity), int(repeats))
        return params, self._mlp_program(int(capacity), int(repeats))

    def _mlp_program(self, capacity: int, repeats: int):
        """The pure prior-mode program with the MLP latent model ``fn(consts, key, counts_K, b)``."""

        def fn(consts, key, counts_K, b):
            k_phys, k_lat, k_cur = jax.random.split(key, 3)
            labels_N, valid_N, phys_NP = self._sample_physics(consts, k_phys, counts_K, b, capacity)
            z_NZ = self._latent_mlp(consts, k_lat, phys_NP, labels_N)
            return self._curves(consts, k_cur, labels_N, valid_N, phys_NP, z_NZ, False, repeats)

        return fn

    def counts_array(self, counts_per_class) -> np.ndarray:
        """(K,) int32 counts from a dict {class: n}, a sequence in class order, or one int for all."""
        if isinstance(counts_per_class, dict):
            unknown = set(counts_per_class) - set(self.classes)
            if unknown:
                raise ConfigError(f"counts_per_class: unknown classes {sorted(unknown)}; known {self.classes}")
            counts = np.array([int(counts_per_class.get(c, 0)) for c in self.classes])
        elif np.ndim(counts_per_class) == 0:
            counts = np.full(len(self.classes), int(counts_per_class))
        else:
            counts = np.asarray(counts_per_class, np.int64).reshape(-1)
            if len(counts) != len(self.classes):
                raise ConfigError(f"counts_per_class: {len(counts)} counts for {len(self.classes)} classes")
        if (counts < 0).any() or counts.sum() == 0:
            raise ConfigError(f"counts_per_class: counts must be >= 0 with a positive total, got {counts.tolist()}")
        return counts.astype(np.int32)

    def capacity_for(self, total: int) -> int:
        m = self.config.capacity_multiple
        return int(-(-total // m) * m)

    def generate(self, key, counts_per_class, b: float = 1.0, *, capacity: int | None = None,
                 repeats: int = 1, star_weights=None) -> SynthBatch:
        """Generate synthetic classifier inputs (see SynthBatch) for counts per class at temperature b.

        key: typed JAX key. counts_per_class: dict / sequence / int: decoded templates per class.
        b > 0: prior temperature (samples follow p^b). capacity: template slots (default: the total
        rounded up). repeats >= 1: light curves made from each template (own donor, phase, noise),
        so the batch holds capacity * repeats rows, template i in rows i*repeats ... (i+1)*repeats - 1.
        star_weights: (S,) >= 0, the posterior mode's odds of drawing each training star within its
        class (default uniform; e.g. more weight on the stars a classifier confuses).
        """
        if int(repeats) != repeats or repeats < 1:
            raise ConfigError(f"generate: repeats must be an integer >= 1, got {repeats}")
        repeats = int(repeats)
        counts = self.counts_array(counts_per_class)
        cap = self.capacity_for(int(counts.sum())) if capacity is None else int(capacity)
        if cap < counts.sum():
            raise ConfigError(f"generate: capacity {cap} < requested total {int(counts.sum())}")
        if not b > 0:
            raise ConfigError(f"generate: temperature b must be > 0, got {b}")
        if star_weights is not None and self.config.latent_source != "posterior":
            raise ConfigError("generate: star_weights need the posterior mode (latent_source='posterior')")
        progs = self._programs(cap, repeats)
        b = jnp.float32(b)
        consts = self._consts(star_weights)
        if len(progs) == 1:
            return progs[0](consts, key, jnp.asarray(counts), b)
        labels_N, valid_N, phys_NP = progs[0](consts, key, jnp.asarray(counts), b)
        z_NZ = self.latent.predict_mean(np.asarray(phys_NP), np.asarray(labels_N)).astype(np.float32)
        return progs[1](consts, key, labels_N, valid_N, phys_NP, jnp.asarray(z_NZ))

    def to_lightcurves(self, batch: SynthBatch, *, prefix: str = "synth"):
        """Host: the valid slots of a batch as a LightCurveSet (times in days from the donor's first
        epoch; meta: id, class, period [d], the physical parameters in linear units, donor: the id of
        the star whose cadence and errors the curve carries (its bank row for generators saved
        without donor ids), star (posterior mode): the id of the training star whose code it decodes)."""
        import pandas as pd

        from jaxpelsvae.data.lightcurves import LightCurveSet
        from jaxpelsvae.physics.priors import from_space

        got = batch.trim()
        n = len(got.y_N)
        ids = [f"{prefix}-{i:07d}" for i in range(n)]
        meta = pd.DataFrame({"id": ids, "class": [self.classes[k] for k in got.y_N],
                             "period": got.period_N.astype(np.float64)})
        linear = from_space(got.phys_NP.astype(np.float64), self.priors.config.params, self.priors.config.log10_params)
        for j, name in enumerate(self.priors.config.params):
            if name != "period":
                meta[name] = linear[:, j]
        meta["donor"] = got.donor_N if self.donor_ids is None else self.donor_ids[np.asarray(got.donor_N)]
        if self.config.latent_source == "posterior":  # the training star whose posterior the code came from
            meta["star"] = got.star_N if self.star_ids is None else self.star_ids[np.asarray(got.star_N)]
        mask = got.mask_NT.astype(bool)
        return LightCurveSet.from_padded(ids, got.time_NT, got.mag_NT, got.err_NT, mask, meta=meta,
                                         classes=self.classes)

    def with_donors(self, target, *, copies: int = 4, seed: int = 0) -> "Generator":
        """The same generator observing its synthetic curves at the cadences and errors of the
        unlabelled curves ``target`` (`reverse_fold.retarget_donor_bank` of its donor bank; labels of
        ``target`` are never read)."""
        from jaxpelsvae.synth.reverse_fold import retarget_donor_bank, retargeted_donor_ids

        bank = retarget_donor_bank(self.bank_host, target, copies=copies, max_len=self.config.donor_max_len, seed=seed)
        ids = retargeted_donor_ids(len(self.bank_host.label_D), target, copies=copies, seed=seed)
        per_class = np.bincount(np.asarray(bank.label_D), minlength=len(self.classes))
        report = {**self.report, "donors": {"source": "target curves (cadences and errors only)",
                                            "n_curves": len(target), "copies_per_training_donor": int(copies)},
                  "donors_per_class": {c: int(n) for c, n in zip(self.classes, per_class)}}
        # the stars' own cadences are not in the new bank: nothing to exclude; the target's errors are
        # kept as they are (its stars' brightness, not the training stars'), and so is their full
        # noise (`noise_factor` 1: the training star's share of it is not the target's)
        stars = None if self.stars is None else self.stars._replace(
            donor_S=np.full(len(self.stars.label_S), -1, np.int32), err_S=np.zeros(len(self.stars.label_S), np.float32))
        out = Generator(self.priors, self.latent, self.vae_model, self.vae_classes, bank, self.config,
                        vae_scaler=self.vae_scaler, report=report, donor_ids=ids, stars=stars, star_ids=self.star_ids)
        out.own_cadences = self.own_cadences or self
        return out

    def with_encoding(self, seq_length: int, order: str = "random") -> "Generator":
        """The same generator encoding its raw synthetic curves into ``seq_length`` (Δt, Δm) pairs drawn
        in ``order``: a classifier's own L and order, whatever L the generator was fitted for (the
        raw curves do not depend on it). Returns ``self`` when they are already its own."""
        if (self.config.seq_length, self.config.order) == (int(seq_length), order):
            return self
        config = dataclasses.replace(self.config, seq_length=int(seq_length), order=order)
        out = Generator(self.priors, self.latent, self.vae_model, self.vae_classes, self.bank_host, config,
                        vae_scaler=self.vae_scaler, report=self.report, donor_ids=self.donor_ids, stars=self.stars,
                        star_ids=self.star_ids)
        out.own_cadences = self.own_cadences  # the raw curves, which the realism report judges, are the same
        return out

    # -- persistence ------------------------------------------------------------------------------

    def save(self, folder: str | Path, fitted_ids=None) -> Path:
        """Write priors/, latent/, vae/, donors.npz, stars.npz (posterior mode), generator.json into folder."""
        from jaxpelsvae.train.vae_train import save_vae

        folder = Path(folder).absolute()
        folder.mkdir(parents=True, exist_ok=True)
        self.priors.save(folder / "priors")
        self.latent.save(folder / "latent")
        save_vae(folder / "vae", self.vae_model, self.vae_model.config, self.vae_scaler,
                 classes=self.vae_classes if len(self.vae_classes) == self.vae_model.config.num_classes else ())
        ids = {} if self.donor_ids is None else {"id_D": self.donor_ids}  # a str array: saved without pickle
        np.savez(folder / "donors.npz", **{k: np.asarray(v) for k, v in self.bank_host._asdict().items() if v is not None},
                 **ids)
        if self.stars is not None:
            sids = {} if self.star_ids is None else {"id_S": self.star_ids}
            np.savez(folder / "stars.npz", **self.stars._asdict(), **sids)
        doc = {"config": dataclasses.asdict(self.config), "classes": list(self.classes),
               "vae_classes": list(self.vae_classes), "report": self.report}
        (folder / "generator.json").write_text(json.dumps(doc, indent=2, default=json_default))
        (folder / "report.json").write_text(json.dumps(self.report, indent=2, default=json_default))
        write_provenance(folder, fitted_ids)  # stars of the VAE, priors, latent model, donors
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "Generator":
        from jaxpelsvae.train.vae_train import load_vae

        folder = Path(folder).absolute()
        if not (folder / "generator.json").is_file():
            raise FileNotFoundError(f"{folder}: not a saved generator (missing generator.json)")
        doc = json.loads((folder / "generator.json").read_text())
        priors = PhysPriors.load(folder / "priors")
        latent = LatentModel.load(folder / "latent")
        vae = load_vae(folder / "vae")
        with np.load(folder / "donors.npz") as npz:
            bank = DonorBank(*(npz[f] if f in npz.files else None for f in DonorBank._fields))
            ids = npz["id_D"] if "id_D" in npz.files else None
        stars, star_ids = None, None
        if (folder / "stars.npz").is_file():
            with np.load(folder / "stars.npz") as npz:
                # err_S, fold_noise_S: 0 (the donor's errors and the full noise kept) in a bank saved before them
                n_stars = len(npz["label_S"])
                stars = StarBank(*(npz[f] if f in npz.files else np.zeros(n_stars, np.float32) for f in StarBank._fields))
                star_ids = npz["id_S"] if "id_S" in npz.files else None
        config = doc["config"]
        if stars is None:  # saved before the posterior mode existed
            config = {**config, "latent_source": "prior"}
        return cls(priors, latent, vae.model, tuple(doc["vae_classes"]), bank, GeneratorConfig(**config),
                   vae_scaler=vae.scaler, report=doc["report"], donor_ids=ids, stars=stars, star_ids=star_ids)


def generator_folder(path: str | Path) -> Path:
    """The generator's own folder (generator.json, fitted_ids.json) of `path` or of the workdir `path`."""
    path = Path(path)
    if not (path / "generator.json").is_file() and (path / "generator" / "generator.json").is_file():
        return path / "generator"
    return path


def load_generator(path: str | Path) -> Generator:
    """A generator saved by `Generator.save` / `jaxpelsvae fit-generator`: its folder, or a workdir holding generator/."""
    return Generator.load(generator_folder(path))
