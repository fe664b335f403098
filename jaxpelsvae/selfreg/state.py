"""Self-regulation state and configuration: `RegulatorState` (JSON) and the meaning of `RegulatorConfig`'s settings.

`RegulatorConfig` (frozen) is defined in `jaxpelsvae.train.regulator_config` and re-exported here.

Semantics kept from the original `run_cnn` loop (reference ORIGINAL.md §7.2):

* The first synthetic set is created at epoch 0 with ``beta_initial``. Any creation at epoch 0 or 1
  uses equal counts (``no_priority``): an untrained classifier's confusion carries no information.
* The temperature b used by a creation is the value computed right after the *previous* creation:
  after creating a set at epoch e, ``b ← d1 + (1 − d1)·exp(−d2·e)``. The first two creations both use
  b = 1 (``beta_initial``, then the schedule at e = 0).
* A synthetic set is regenerated before the next epoch when the classifier's accuracy on it exceeds
  ``threshold_acc_synthetic`` or when it has been used for ``max_synthetic_age`` epochs (the
  original's ``counter > 5`` rule: a set is used at most 7 epochs).
* The ranking that sets per-class counts uses the row-normalised confusion matrix of the real
  *training* set, computed in eval mode with the model as it is at the end of the previous epoch.
* Early stopping on the validation loss with ``patience`` epochs without improvement.

Fixed (ORIGINAL.md §15.1): the best model by validation loss is the one restored at the end (bug 1);
every setting comes from this config (bug 2); validation runs in eval mode and the ranking pass
leaves the model untouched (bug 13); `proportion` with all-equal proportions gives every class the
middle of the count range instead of dividing by zero (bug 20); synthetic passes leave BatchNorm's
running statistics to the real passes (``synthetic_statistics``; the original folded synthetic
batches in, so real curves were evaluated with statistics partly of synthetic ones). Validation loss is the mean over
examples (the original summed per-batch means: same ordering up to the last partial batch).
``n_oversampling``: the original drew that many random 300-point subsequences of each synthetic
curve; here each decoded template is reverse-folded that many times, each copy on its own donor
cadence with its own phase and noise (`Generator.generate(..., repeats=n_oversampling)`).
Ties in a ranking keep the lower class index first (stable sorts); a class without examples has a
correct-classification rate of 0.
"""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from jaxpelsvae.json_io import json_safe
from jaxpelsvae.train.regulator_config import RANKING_METHODS, RegulatorConfig

__all__ = ["RANKING_METHODS", "RegulatorConfig", "RegulatorState"]


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclasses.dataclass(frozen=True)
class RegulatorState:
    """Everything the policy carries from epoch to epoch; small, immutable, JSON-serialisable.

    ``epoch`` counts finished epochs (the next epoch to run). ``temperature`` is the b the next
    synthetic creation will use. ``synthetic_age`` is the number of epochs the current synthetic
    set has been trained on; ``synthetic_counts`` its per-class counts (index = class label), empty
    when there is none. ``pending_counts`` is not None when a new set must be created before the
    next epoch (the loop creates it, then calls `policies.after_generation`); ``pending_need`` then
    holds each training star's need (`selfreg.focus.star_need`, training-set order) when
    ``RegulatorConfig.focus`` > 0 and a trained classifier judged the stars (None: uniform draws).
    ``best_val_loss`` is None until the first epoch. ``history`` holds one record per epoch.
    """

    num_classes: int
    selfreg: bool = True
    epoch: int = 0
    temperature: float = 1.0
    synthetic_age: int = 0
    regenerations: int = 0
    best_val_loss: float | None = None
    best_epoch: int = -1
    patience_counter: int = 0
    synthetic_counts: tuple[int, ...] = ()
    pending_counts: tuple[int, ...] | None = None
    pending_need: tuple[float, ...] | None = None
    stopped: bool = False
    history: tuple[dict[str, Any], ...] = ()

    def replace(self, **changes) -> "RegulatorState":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "selfreg": self.selfreg,
            "epoch": self.epoch,
            "temperature": self.temperature,
            "synthetic_age": self.synthetic_age,
            "regenerations": self.regenerations,
            "best_val_loss": _finite_or_none(self.best_val_loss),
            "best_epoch": self.best_epoch,
            "patience_counter": self.patience_counter,
            "synthetic_counts": list(self.synthetic_counts),
            "pending_counts": None if self.pending_counts is None else list(self.pending_counts),
            "pending_need": None if self.pending_need is None else list(self.pending_need),
            "stopped": self.stopped,
            "history": [json_safe(h) for h in self.history],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RegulatorState":
        pending, need = d.get("pending_counts"), d.get("pending_need")
        return cls(
            num_classes=int(d["num_classes"]),
            selfreg=bool(d["selfreg"]),
            epoch=int(d["epoch"]),
            temperature=float(d["temperature"]),
            synthetic_age=int(d["synthetic_age"]),
            regenerations=int(d["regenerations"]),
            best_val_loss=None if d["best_val_loss"] is None else float(d["best_val_loss"]),
            best_epoch=int(d["best_epoch"]),
            patience_counter=int(d["patience_counter"]),
            synthetic_counts=tuple(int(c) for c in d["synthetic_counts"]),
            pending_counts=None if pending is None else tuple(int(c) for c in pending),
            pending_need=None if need is None else tuple(float(x) for x in need),
            stopped=bool(d["stopped"]),
            history=tuple(dict(h) for h in d["history"]),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> "RegulatorState":
        return cls.from_dict(json.loads(text))
