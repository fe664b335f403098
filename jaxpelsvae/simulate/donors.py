"""Real cadences for the simulator: the times and errors of unlabelled curves (`simulate --cadence-from`)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxpelsvae.errors import DataError


@dataclass(frozen=True)
class DonorCadences:
    """Times [d] and errors [mag] of real curves (CSR: `offsets`), each curve's median magnitude,
    and `tag`, a short digest of their content that names simulated stars observed with them."""

    time: np.ndarray
    err: np.ndarray
    offsets: np.ndarray
    median_mag: np.ndarray
    tag: str

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return int(self.offsets.shape[0] - 1)

    def padded(self, donor_idx: np.ndarray):
        """(t_NT, err_NT, mask_NT) of donors `donor_idx` (repeats allowed), padded after each curve."""
        lengths = self.lengths[donor_idx]
        width = max(int(lengths.max()), 1)
        col = np.arange(width)[None, :]
        mask = col < lengths[:, None]
        pos = np.where(mask, self.offsets[donor_idx][:, None] + col, 0)
        # Padding repeats a curve's last time (read, never used): times stay non-decreasing.
        last = self.offsets[donor_idx + 1] - 1
        pos = np.where(mask, pos, last[:, None])
        return self.time[pos], self.err[pos], mask


def load_donor_cadences(path: str | Path, min_points: int | None = None) -> DonorCadences:
    """The validated curves of any dataset the readers know (`jaxpelsvae.data.load_dataset`);
    stars without a class are kept and no label is read past validation: only times, errors and
    median magnitudes leave this function."""
    from jaxpelsvae.data.readers import load_dataset

    lcs, _ = load_dataset(path, min_points=min_points, require_class=False)
    if len(lcs) == 0:
        raise DataError(f"{path}: no usable curve to take cadences from")
    return donor_cadences(lcs)


def donor_cadences(lcs) -> DonorCadences:
    """The times, errors and median magnitudes of a validated LightCurveSet (its meta, labels
    included, is not read)."""
    if len(lcs) == 0:
        raise DataError("donor cadences: the light-curve set is empty")
    median_mag = np.array([np.median(lcs.curve(i)[1]) for i in range(len(lcs))])  # loop over curves
    digest = hashlib.sha256()
    for array in (lcs.offsets, lcs.time, lcs.err):
        digest.update(np.ascontiguousarray(array).tobytes())
    return DonorCadences(np.asarray(lcs.time, np.float64), np.asarray(lcs.err, np.float64),
                         np.asarray(lcs.offsets, np.int64), median_mag, digest.hexdigest()[:8])
