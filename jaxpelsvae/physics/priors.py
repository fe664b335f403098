"""Per-class Bayesian Gaussian mixtures over physical parameters (with prior boxes) and tempered p^b sampling in JAX.

Shape suffixes: see `jaxpelsvae` (package docstring).

One parameter space everywhere (mixtures, prior boxes, mean prior, latent-model features): every
configured meta column, log10-transformed where configured. Default: log10 period [d], log10 Teff [K],
[Fe/H] [dex], absolute G magnitude [mag], log10 radius [R_sun], logg [cgs]. (The original mixed ln and
log10 between its mixtures, its mean prior and its regressor; ORIGINAL.md §15.1 bug 3.)

Missing values are imputed per class before fitting, in that space: the class median of the observed
values; when a class has no observed value of a parameter, the mean of its prior-box midpoints; when it
has no prior box either, the median over all classes. The counts are in the fit report.

Tempered sampling draws from p(x)^b / Z (b < 1 flatter, b > 1 sharper), not p^(1+b) as the original's
two-step resampler did (bug 7). Method: for a Gaussian mixture, p^b is close to the mixture of
N(mu_k, Sigma_k / b) with weights proportional to w_k^b |2 pi Sigma_k|^((1-b)/2) (exact for one
component and for well separated components); that mixture q is the proposal, and each output is
chosen among R candidates from q by importance resampling with weights p(x)^b / q(x), which corrects
the overlap of components (and, with truncation on, gives zero weight outside the prior boxes).
"""
from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import yaml

from jaxpelsvae.errors import ConfigError, DataError
from jaxpelsvae.json_io import json_default
from jaxpelsvae.physics.schema import DEFAULT_LOG10_PARAMS, DEFAULT_PARAMS, SCHEMA, apply_transform, canonical_name, resolve_column

DEFAULT_PRIOR_BOXES = Path(__file__).with_name("priors.yaml")

# priors.yaml keys (the original's column names) -> our parameter names, through the one schema
YAML_KEYS = {key: canonical_name(key) for key in ("Period", "teff_val", "FeH_J95", "abs_Gmag", "radius_val", "logg")}
# Column names accepted in a meta table for each parameter: the schema's aliases (shared with the VAE inputs)
COLUMN_ALIASES = {name: p.aliases for name, p in SCHEMA.items()}


@dataclasses.dataclass(frozen=True)
class PriorConfig:
    """Settings of the physical-parameter priors (defaults follow the original where sound)."""

    params: tuple[str, ...] = DEFAULT_PARAMS
    log10_params: tuple[str, ...] = DEFAULT_LOG10_PARAMS
    # priors.yaml file; "default" = the packaged copy of the original's boxes; None = no boxes
    prior_boxes: str | None = "default"
    n_components: int = 3  # for classes without prior boxes
    max_iter: int = 5000
    min_rows_mean_prior: int = 30  # the original sets mean_prior only above 30 rows
    # The original fitted only stars strictly inside the class period limits; off by default because the
    # limits (e.g. LPV 100-1000 d) are narrower than real catalogues (OGLE OSARGs, semi-regulars).
    restrict_to_period_limits: bool = False
    truncate: bool = False  # sampled parameters restricted to the class's prior boxes
    candidates: int = 16  # R: importance-resampling candidates per sample
    seed: int = 42

    def __post_init__(self):
        if not self.params:
            raise ConfigError("PriorConfig.params: at least one physical parameter is needed")
        bad = set(self.log10_params) - set(self.params)
        if bad:
            raise ConfigError(f"PriorConfig.log10_params: {sorted(bad)} not among params {self.params}")
        if self.candidates < 1 or self.n_components < 1:
            raise ConfigError("PriorConfig: candidates and n_components must be >= 1")


# ----------------------------------------------------------------------------------------------
# Prior boxes (priors.yaml, ORIGINAL.md §11.1)


@dataclasses.dataclass(frozen=True)
class PriorBox:
    """One sub-class box: ranges and midpoints in linear units, keyed by our parameter names."""

    name: str
    lo: dict
    hi: dict
    mid: dict


@dataclasses.dataclass(frozen=True)
class ClassPrior:
    """The boxes of one class and its period limits [days]."""

    name: str
    min_period: float
    max_period: float
    boxes: tuple[PriorBox, ...]


def class_period_limits(config: "PriorConfig") -> dict[str, tuple[float, float]]:
    """{class: (min_period, max_period)} [days] of the config's prior boxes ({} without boxes)."""
    if config.prior_boxes is None:
        return {}
    path = DEFAULT_PRIOR_BOXES if config.prior_boxes == "default" else Path(config.prior_boxes)
    return {c: (cp.min_period, cp.max_period) for c, cp in read_prior_boxes(path).items()}


def read_prior_boxes(path: str | Path) -> dict[str, ClassPrior]:
    """Parse a priors.yaml file (ORIGINAL.md §11.1 format) into {class: ClassPrior}."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read prior boxes ({err})") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("StarTypes"), dict):
        raise ConfigError(f"{path}: top-level key 'StarTypes' (a mapping) is missing")
    out = {}
    for cls, block in doc["StarTypes"].items():
        if not isinstance(block, dict):
            raise ConfigError(f"{path}: class {cls}: expected a mapping")
        try:
            pmin, pmax = float(block["min_period"]), float(block["max_period"])
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"{path}: class {cls}: min_period/max_period missing or not numbers") from err
        boxes = []
        for sub, spec in block.items():
            if sub in ("CompleteName", "min_period", "max_period"):
                continue
            if not isinstance(spec, dict) or "Midpoints" not in spec:
                raise ConfigError(f"{path}: class {cls}, sub-class {sub}: expected ranges and Midpoints")
            lo, hi, mid = {}, {}, {}
            for key, name in YAML_KEYS.items():
                if key in spec:
                    rng = spec[key]
                    if not (isinstance(rng, list) and len(rng) == 2):
                        raise ConfigError(f"{path}: class {cls}, sub-class {sub}: {key} must be [lo, hi]")
                    lo[name], hi[name] = float(min(rng)), float(max(rng))
                if key in spec["Midpoints"]:
                    mid[name] = float(spec["Midpoints"][key])
            boxes.append(PriorBox(str(sub), lo, hi, mid))
        out[str(cls)] = ClassPrior(str(cls), pmin, pmax, tuple(boxes))
    return out


# ----------------------------------------------------------------------------------------------
# The parameter space


def to_space(values_NP: np.ndarray, params, log10_params) -> np.ndarray:
    """Linear units -> the model space (log10 where configured); non-positive under log10 -> NaN."""
    out = np.array(values_NP, dtype=np.float64, copy=True)
    for j, name in enumerate(params):
        if name in log10_params:
            out[..., j] = apply_transform(out[..., j], "log10")
    return out


def from_space(x_NP: np.ndarray, params, log10_params) -> np.ndarray:
    """The model space -> linear units (inverse of `to_space`)."""
    out = np.array(x_NP, dtype=np.float64, copy=True)
    for j, name in enumerate(params):
        if name in log10_params:
            out[..., j] = 10.0 ** out[..., j]
    return out


def find_column(meta: pd.DataFrame, name: str) -> str | None:
    """The meta column holding parameter `name` (the schema's aliases, see `physics.schema`), or None."""
    return resolve_column(meta.columns, name)


def physics_table(meta: pd.DataFrame, params=DEFAULT_PARAMS, log10_params=DEFAULT_LOG10_PARAMS) -> np.ndarray:
    """(N, P) float64 parameters in the model space from a meta table; NaN where missing or invalid."""
    cols = []
    for name in params:
        col = find_column(meta, name)
        if col is None:
            cols.append(np.full(len(meta), np.nan))
        else:
            cols.append(pd.to_numeric(meta[col], errors="coerce").to_numpy(np.float64))
    x = np.stack(cols, axis=1) if cols else np.zeros((len(meta), 0))
    x = to_space(x, params, log10_params)
    x[~np.isfinite(x)] = np.nan
    return x


# ----------------------------------------------------------------------------------------------
# Fitted mixtures as device arrays


class PriorArrays(NamedTuple):
    """Fitted per-class mixtures and boxes as arrays (a pytree; numpy on the host, jax on device).

    logw_KA: log mixture weights (-inf on padded components); mean_KAP; chol_KAPP: Cholesky factors
    of the covariances; logdet_KA: log|Sigma|; box_lo_KVP / box_hi_KVP: box bounds in the model space
    (+inf / -inf on padded boxes, -inf / +inf on unbounded parameters); has_box_K: class has boxes.
    """

    logw_KA: np.ndarray
    mean_KAP: np.ndarray
    chol_KAPP: np.ndarray
    logdet_KA: np.ndarray
    box_lo_KVP: np.ndarray
    box_hi_KVP: np.ndarray
    has_box_K: np.ndarray


# priors.npz is a file format: its array names stay as written by every release, whatever the fields are called.
_NPZ_KEYS = dict(zip(PriorArrays._fields,
                     ("logw_KC", "mean_KCP", "chol_KCPP", "logdet_KC", "box_lo_KBP", "box_hi_KBP", "has_box_K")))
_LOG_2PI = math.log(2.0 * math.pi)


def _component_maha(arrays: PriorArrays, c, x_P):
    """Squared Mahalanobis distances (A,) of x_P to the components of class c."""
    diff_AP = x_P[None, :] - arrays.mean_KAP[c]
    sol_AP = jax.vmap(
        lambda L, d: jax.scipy.linalg.solve_triangular(L, d, lower=True)
    )(arrays.chol_KAPP[c], diff_AP)
    return jnp.sum(sol_AP**2, axis=-1)


def mixture_logpdf(arrays: PriorArrays, c, x_P):
    """log p(x | class c) of the fitted mixture, for one point x_P (model space)."""
    P = x_P.shape[-1]
    logn_A = -0.5 * (_component_maha(arrays, c, x_P) + P * _LOG_2PI + arrays.logdet_KA[c])
    return jax.nn.logsumexp(arrays.logw_KA[c] + logn_A)


def tempered_component_logits(arrays: PriorArrays, c, b):
    """Unnormalised log weights (A,) of the mixture N(mu_k, Sigma_k/b) that approximates p^b."""
    P = arrays.mean_KAP.shape[-1]
    return b * arrays.logw_KA[c] + 0.5 * (1.0 - b) * (P * _LOG_2PI + arrays.logdet_KA[c])


def _proposal_logpdf(arrays: PriorArrays, c, b, x_P):
    P = x_P.shape[-1]
    logits_A = jax.nn.log_softmax(tempered_component_logits(arrays, c, b))
    logn_A = -0.5 * (
        b * _component_maha(arrays, c, x_P) + P * _LOG_2PI + arrays.logdet_KA[c] - P * jnp.log(b)
    )
    return jax.nn.logsumexp(logits_A + logn_A)


def _inside_boxes(arrays: PriorArrays, c, x_P):
    inside_V = jnp.all((x_P >= arrays.box_lo_KVP[c]) & (x_P <= arrays.box_hi_KVP[c]), axis=-1)
    return jnp.any(inside_V) | ~arrays.has_box_K[c]


def _project_to_boxes(arrays: PriorArrays, c, x_P):
    """The nearest point of the class's boxes (Euclidean in the model space)."""
    lo_VP, hi_VP = arrays.box_lo_KVP[c], arrays.box_hi_KVP[c]
    valid_V = jnp.all(lo_VP <= hi_VP, axis=-1)
    clipped_VP = jnp.clip(x_P[None, :], lo_VP, hi_VP)
    dist_V = jnp.where(valid_V, jnp.sum((clipped_VP - x_P) ** 2, axis=-1), jnp.inf)
    projected = clipped_VP[jnp.argmin(dist_V)]
    return jnp.where(arrays.has_box_K[c], projected, x_P)


def sample_one(key, arrays: PriorArrays, c, b, *, candidates: int = 16, truncate: bool = False):
    """One draw (P,) from p(x | class c)^b (model space), optionally restricted to the prior boxes.

    R = `candidates` proposals from the tempered mixture q, one chosen with weights p^b/q (and zero
    weight outside the boxes when `truncate`). If no candidate lies in a box, the chosen one is
    projected onto the nearest box, so truncated samples always lie inside.
    """
    key_comp, key_eps, key_pick = jax.random.split(key, 3)
    b = jnp.asarray(b, jnp.float32)
    P = arrays.mean_KAP.shape[-1]
    comp_R = jax.random.categorical(key_comp, tempered_component_logits(arrays, c, b), shape=(candidates,))
    eps_RP = jax.random.normal(key_eps, (candidates, P), jnp.float32)
    chol_RPP = arrays.chol_KAPP[c][comp_R]
    x_RP = arrays.mean_KAP[c][comp_R] + jnp.einsum("rij,rj->ri", chol_RPP, eps_RP) / jnp.sqrt(b)
    if candidates == 1 and not truncate:
        return x_RP[0]
    logp_R = jax.vmap(lambda x: mixture_logpdf(arrays, c, x))(x_RP)
    logq_R = jax.vmap(lambda x: _proposal_logpdf(arrays, c, b, x))(x_RP)
    logit_R = b * logp_R - logq_R
    if truncate:
        inside_R = jax.vmap(lambda x: _inside_boxes(arrays, c, x))(x_RP)
        logit_R = jnp.where(inside_R, logit_R, -jnp.inf)
        any_inside = jnp.any(inside_R)
        logit_R = jnp.where(any_inside, logit_R, 0.0)
    x_P = x_RP[jax.random.categorical(key_pick, logit_R)]
    if truncate:
        x_P = jnp.where(any_inside, x_P, _project_to_boxes(arrays, c, x_P))
    return x_P


def sample_physics(key, arrays: PriorArrays, labels_N, b, *, candidates: int = 16, truncate: bool = False):
    """Draws (N, P) float32 from p(x | class labels_N[i])^b, one independent key per sample."""
    keys = jax.random.split(key, labels_N.shape[0])
    return jax.vmap(lambda k, c: sample_one(k, arrays, c, b, candidates=candidates, truncate=truncate))(
        keys, labels_N
    )


_sample_physics_jit = jax.jit(sample_physics, static_argnames=("candidates", "truncate"))


# ----------------------------------------------------------------------------------------------
# Fitting


@dataclasses.dataclass(frozen=True)
class PhysPriors:
    """Fitted priors on the host: config, class names, arrays (numpy), imputation values, report."""

    config: PriorConfig
    classes: tuple[str, ...]
    arrays: PriorArrays
    fill_KP: np.ndarray  # per-class imputation values in the model space
    report: dict

    def device_arrays(self) -> PriorArrays:
        return PriorArrays(*(jnp.asarray(a, jnp.bool_ if a.dtype == bool else jnp.float32) for a in self.arrays))

    def impute(self, x_NP: np.ndarray, labels_N: np.ndarray) -> np.ndarray:
        """Fill NaNs of x_NP (model space) with the per-class imputation values."""
        x = np.array(x_NP, dtype=np.float64, copy=True)
        fill = self.fill_KP[np.asarray(labels_N)]
        missing = np.isnan(x)
        x[missing] = fill[missing]
        return x

    def sample(self, key, labels_N, b=1.0, *, truncate: bool | None = None) -> np.ndarray:
        """Host convenience: (N, P) samples in the model space for class indices labels_N."""
        trunc = self.config.truncate if truncate is None else truncate
        out = _sample_physics_jit(key, self.device_arrays(), jnp.asarray(labels_N, jnp.int32), jnp.float32(b),
                 candidates=self.config.candidates, truncate=trunc)
        return np.asarray(out)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "priors.npz", fill_KP=self.fill_KP, **{_NPZ_KEYS[f]: v for f, v in self.arrays._asdict().items()})
        doc = {"config": dataclasses.asdict(self.config), "classes": list(self.classes), "report": self.report}
        (folder / "priors.json").write_text(json.dumps(doc, indent=2, default=json_default))

    @classmethod
    def load(cls, folder: str | Path) -> "PhysPriors":
        folder = Path(folder)
        doc = json.loads((folder / "priors.json").read_text())
        with np.load(folder / "priors.npz") as npz:
            arrays = PriorArrays(*(npz[_NPZ_KEYS[f]] for f in PriorArrays._fields))
            fill = npz["fill_KP"]
        cfg = doc["config"]
        cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}
        return cls(PriorConfig(**cfg), tuple(doc["classes"]), arrays, fill, doc["report"])


def _box_bounds(boxes, cp: ClassPrior | None, params, log10_params, restrict_period: bool):
    """(V, P) lower/upper bounds of the boxes in the model space."""
    lo = np.full((len(boxes), len(params)), -np.inf)
    hi = np.full((len(boxes), len(params)), np.inf)
    for i, box in enumerate(boxes):
        for j, name in enumerate(params):
            if name in box.lo:
                lo[i, j], hi[i, j] = box.lo[name], box.hi[name]
            if name == "period" and cp is not None and restrict_period:
                lo[i, j] = max(lo[i, j], cp.min_period)
                hi[i, j] = min(hi[i, j], cp.max_period)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = to_space(lo, params, log10_params)
        hi = to_space(hi, params, log10_params)
    lo = np.where(np.isnan(lo), -np.inf, lo)  # log10 of a non-positive lower bound: unbounded
    hi = np.where(np.isnan(hi), -np.inf, hi)  # non-positive upper bound under log10: empty box
    return lo, hi


def _midpoint(boxes, params, log10_params) -> np.ndarray:
    """Mean of the boxes' midpoints, each transformed into the model space; NaN where absent."""
    mids = np.array([[box.mid.get(name, np.nan) for name in params] for box in boxes], dtype=np.float64)
    mids = to_space(mids, params, log10_params)
    with np.errstate(invalid="ignore"):
        return np.nanmean(mids, axis=0) if len(boxes) else np.full(len(params), np.nan)


def fit_priors(
    meta: pd.DataFrame,
    classes: tuple[str, ...] | None = None,
    config: PriorConfig = PriorConfig(),
    *,
    class_column: str = "class",
) -> PhysPriors:
    """Fit one BayesianGaussianMixture per class over the configured parameters (model space).

    meta: one row per star with a class column and parameter columns (linear units; aliases in
    COLUMN_ALIASES). classes: the label order (default: sorted unique). Returns PhysPriors whose
    report holds, per class, rows, rows kept, rows outside the period limits, imputed values per
    parameter, components, convergence.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import BayesianGaussianMixture

    if class_column not in meta.columns:
        raise DataError(f"meta table: column '{class_column}' is missing (rule: every star has a class)")
    params, logp = tuple(config.params), tuple(config.log10_params)
    if classes is None:
        classes = tuple(sorted(meta[class_column].astype(str).unique()))
    boxes_by_class = {}
    if config.prior_boxes is not None:
        path = DEFAULT_PRIOR_BOXES if config.prior_boxes == "default" else Path(config.prior_boxes)
        boxes_by_class = read_prior_boxes(path)
    x_all = physics_table(meta, params, logp)
    labels = meta[class_column].astype(str).to_numpy()
    missing_cols = [p for p in params if find_column(meta, p) is None]
    global_median = np.array([np.nanmedian(col) if np.isfinite(col).any() else np.nan for col in x_all.T])

    K, P = len(classes), len(params)
    per_class, fills, fitted = {}, np.zeros((K, P)), []
    for k, cls in enumerate(classes):
        cp = boxes_by_class.get(cls)
        boxes = cp.boxes if cp is not None else ()
        rows = labels == cls
        x = x_all[rows]
        if len(x) < 2:
            raise DataError(f"class {cls}: {len(x)} star(s) with this class; at least 2 are needed to fit its prior")
        mid = _midpoint(boxes, params, logp)
        fill = np.array([np.nanmedian(col) if np.isfinite(col).any() else np.nan for col in x.T])
        fill = np.where(np.isnan(fill), mid, fill)
        fill = np.where(np.isnan(fill), global_median, fill)
        if np.isnan(fill).any():
            bad = [params[j] for j in np.flatnonzero(np.isnan(fill))]
            raise DataError(
                f"class {cls}: parameter(s) {bad} have no value in any star and no prior box "
                "(rule: a parameter needs data or a prior midpoint to be imputed)"
            )
        fills[k] = fill
        imputed = {params[j]: int(np.isnan(x[:, j]).sum()) for j in range(P)}
        x = np.where(np.isnan(x), fill, x)
        n_outside = 0
        if config.restrict_to_period_limits and cp is not None and "period" in params:
            j = params.index("period")
            to = (lambda v: math.log10(v)) if "period" in logp else (lambda v: v)
            keep = (x[:, j] > to(cp.min_period)) & (x[:, j] < to(cp.max_period))
            n_outside = int((~keep).sum())
            if keep.sum() >= max(2, len(boxes)):
                x = x[keep]
            else:  # too few left inside the limits: fit on all rows and say so in the report
                n_outside = -n_outside
        n_comp = max(1, min(len(boxes) or config.n_components, len(x)))
        mean_prior = None
        if len(x) > config.min_rows_mean_prior and len(boxes):
            mean_prior = np.where(np.isnan(mid), x.mean(axis=0), mid)
        bgm = BayesianGaussianMixture(
            n_components=n_comp,
            covariance_type="full",
            max_iter=config.max_iter,
            random_state=config.seed,
            mean_prior=mean_prior,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            bgm.fit(x)
        fitted.append(bgm)
        lo, hi = _box_bounds(boxes, cp, params, logp, True)
        per_class[cls] = {
            "n_rows": int(rows.sum()),
            "n_fit": int(len(x)),
            "n_outside_period_limits": n_outside,
            "imputed": imputed,
            "n_components": n_comp,
            "boxes": [b.name for b in boxes],
            "mean_prior": None if mean_prior is None else mean_prior.tolist(),
            "converged": bool(bgm.converged_),
            "n_iter": int(bgm.n_iter_),
            "_bounds": (lo, hi),
        }

    A = max(len(b.weights_) for b in fitted)
    V = max(1, max(len(per_class[c]["boxes"]) for c in classes))
    logw = np.full((K, A), -np.inf)
    mean = np.zeros((K, A, P))
    chol = np.tile(np.eye(P), (K, A, 1, 1))
    logdet = np.zeros((K, A))
    box_lo = np.full((K, V, P), np.inf)
    box_hi = np.full((K, V, P), -np.inf)
    has_box = np.zeros(K, bool)
    for k, (cls, bgm) in enumerate(zip(classes, fitted)):
        n = len(bgm.weights_)
        with np.errstate(divide="ignore"):
            logw[k, :n] = np.log(bgm.weights_)
        mean[k, :n] = bgm.means_
        for i, cov in enumerate(bgm.covariances_):
            cov = 0.5 * (cov + cov.T)
            chol[k, i] = np.linalg.cholesky(cov + 1e-9 * np.eye(P))
            logdet[k, i] = 2.0 * np.log(np.diag(chol[k, i])).sum()
        lo, hi = per_class[cls].pop("_bounds")
        box_lo[k, : len(lo)], box_hi[k, : len(hi)] = lo, hi
        has_box[k] = len(lo) > 0
    arrays = PriorArrays(logw, mean, chol, logdet, box_lo, box_hi, has_box)
    report = {
        "params": list(params),
        "log10_params": list(logp),
        "columns_missing_everywhere": missing_cols,
        "imputation": "class median in the model space; else mean of prior-box midpoints; else global median",
        "per_class": per_class,
    }
    return PhysPriors(config, tuple(classes), arrays, fills, report)
