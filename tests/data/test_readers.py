"""Tests of the readers (every format, written by the tests) and of the real dev data when present."""
from __future__ import annotations

import gzip
import io
import math

import numpy as np
import pandas as pd
import pytest

from jaxpelsvae.data import (
    LightCurveSet,
    load_dataset,
    original_cuts,
    read_dataset,
    read_gaia_epoch,
    read_ogle_dat,
    read_pelsvae_npy_gz,
    read_standard,
    validate,
    write_standard,
)
from jaxpelsvae.errors import DataError


def _small_set(seed=0) -> LightCurveSet:
    rng = np.random.default_rng(seed)
    ids = ["1234567890123456789", "OGLE-LMC-CEP-0001", "star_c"]  # a Gaia-sized integer id stays exact
    times = [2_455_000.0 + np.sort(rng.uniform(0, 500, n)) for n in (12, 15, 11)]
    mags = [rng.normal(14, 0.2, t.size) for t in times]
    errs = [rng.uniform(0.01, 0.05, t.size) for t in times]
    return LightCurveSet.from_arrays(ids, times, mags, errs, star_class=["CEP", "CEP", "LPV"],
                                     period=[1.5, 2.5, float("nan")])


def _assert_same(a: LightCurveSet, b: LightCurveSet):
    assert list(a.ids) == list(b.ids)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    np.testing.assert_array_equal(a.time, b.time)  # full float64 precision survives
    np.testing.assert_array_equal(a.mag, b.mag)
    np.testing.assert_array_equal(a.err, b.err)
    assert list(a.meta["class"]) == list(b.meta["class"])


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_standard_roundtrip(tmp_path, fmt):
    lcs = _small_set()
    write_standard(lcs, tmp_path, fmt=fmt)
    assert (tmp_path / f"lightcurves.{fmt}").is_file() and (tmp_path / "meta.csv").is_file()
    back = read_standard(tmp_path)
    _assert_same(lcs, back)
    np.testing.assert_array_equal(back.periods, lcs.periods)
    _assert_same(lcs, read_dataset(tmp_path))


@pytest.mark.parametrize("fmt", ["csv", "csv.gz"])
def test_standard_text_is_written_in_chunks_of_stars(tmp_path, fmt, monkeypatch):
    import jaxpelsvae.data.readers as readers

    lcs = _small_set()
    monkeypatch.setattr(readers, "_WRITE_CHUNK_STARS", 2)  # several chunks, the last one partial
    assert len(lcs) > 2 and len(lcs) % 2 == 1
    write_standard(lcs, tmp_path, fmt=fmt)
    lc = pd.read_csv(tmp_path / f"lightcurves.{fmt}")
    assert list(lc.columns) == ["id", "time", "mag", "err"] and len(lc) == len(lcs.time)  # one header
    _assert_same(lcs, read_standard(tmp_path))


@pytest.mark.parametrize("fmt", ["ecsv", "fits"])
def test_standard_astropy_formats(tmp_path, fmt):
    from astropy.table import Table

    lcs = _small_set()
    lc, meta = lcs.to_frames()
    Table.from_pandas(lc).write(tmp_path / f"lightcurves.{fmt}")
    meta.to_csv(tmp_path / "meta.csv", index=False)
    _assert_same(lcs, read_dataset(tmp_path))


def test_standard_file_level_errors(tmp_path):
    with pytest.raises(DataError, match="no lightcurves"):
        read_standard(tmp_path)
    pd.DataFrame({"id": ["a"], "time": [1.0], "mag": [2.0]}).to_csv(tmp_path / "lightcurves.csv", index=False)
    pd.DataFrame({"id": ["a"], "class": ["X"]}).to_csv(tmp_path / "meta.csv", index=False)
    with pytest.raises(DataError, match=r"lightcurves.csv: missing column\(s\) \['err'\].*rule: missing columns"):
        read_standard(tmp_path)


def test_standard_folder_without_meta_csv_is_unlabelled(tmp_path):
    # predict's data: curves only, no meta.csv; ids come from the curves in file order
    pd.DataFrame({"id": ["b", "b", "a", "a"], "time": [1.0, 2.0, 1.0, 2.0], "mag": [10.0, 10.5, 12.0, 12.2],
                  "err": [0.01] * 4}).to_csv(tmp_path / "lightcurves.csv", index=False)
    lcs = read_dataset(tmp_path)
    assert list(lcs.ids) == ["b", "a"] and "class" not in lcs.meta.columns and lcs.classes == ()
    kept, rejected = load_dataset(tmp_path, min_points=2, require_class=False)
    assert len(kept) == 2 and len(rejected) == 0
    with pytest.raises(DataError, match="missing class"):
        load_dataset(tmp_path, min_points=2)  # a labelled run still needs the classes


def _write_dat(path, rows, style="plain"):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for t, m, e in rows:
        lines.append(f"{t:.5f} {m:.3f} {e:.3f}" if style == "plain" else f"  {t:.5f}   {m:.3f}\t {e:.3f}  ")
    path.write_text("\n".join(lines) + "\n")


def _rows(n, seed):
    rng = np.random.default_rng(seed)
    t = 5000 + np.cumsum(rng.uniform(0.5, 2, n))
    return list(zip(t, rng.normal(18, 0.1, n), rng.uniform(0.02, 0.05, n)))


def test_ogle_flat_and_tree_with_messy_whitespace(tmp_path):
    flat = tmp_path / "flat"
    _write_dat(flat / "OGLE-LMC-DSCT-00001.dat", _rows(20, 0))
    _write_dat(flat / "OGLE-BLG-RRLYR-00002.dat", _rows(25, 1), style="messy")
    lcs = read_ogle_dat(flat)
    assert list(lcs.ids) == ["OGLE-BLG-RRLYR-00002", "OGLE-LMC-DSCT-00001"]
    assert list(lcs.meta["class"]) == ["RRLYR", "DSCT"]  # class from the id token without a meta table
    np.testing.assert_allclose(lcs.curve(0)[0], [r[0] for r in _rows(25, 1)], atol=1e-5)
    assert list(lcs.lengths) == [25, 20]

    tree = tmp_path / "tree"
    _write_dat(tree / "lmc" / "cep" / "phot" / "I" / "OGLE-LMC-CEP-00010.dat", _rows(30, 2))
    _write_dat(tree / "smc" / "ecl" / "phot" / "I" / "OGLE-SMC-ECL-00020.dat", _rows(31, 3))
    meta = pd.DataFrame({"ID": ["OGLE-LMC-CEP-00010.dat", "OGLE-SMC-ECL-00020.dat", "OGLE-X-Y-9.dat"],
                         "Type": ["CEP", "ELL", "RRLYR"], "Period": [3.2, 0.7, 0.5]})
    meta.to_csv(tmp_path / "meta_tree.csv", index=False)
    lcs = read_dataset(tree, meta=tmp_path / "meta_tree.csv")
    assert list(lcs.ids) == ["OGLE-LMC-CEP-00010", "OGLE-SMC-ECL-00020"]  # meta rows without a file ignored
    assert list(lcs.meta["class"]) == ["CEP", "ELL"]
    np.testing.assert_allclose(lcs.periods, [3.2, 0.7])


def test_ogle_bad_file_becomes_a_rejection(tmp_path):
    _write_dat(tmp_path / "OGLE-LMC-CEP-00001.dat", _rows(20, 0))
    (tmp_path / "OGLE-LMC-CEP-00002.dat").write_text("5000.1 18.0 0.02\n5001.2 18.1\n")
    (tmp_path / "OGLE-LMC-CEP-00003.dat").write_text("5000.1 18.0 0.02\nfoo 18.1 0.02\n")
    lcs = read_ogle_dat(tmp_path)
    kept, rejected = validate(lcs)
    assert list(kept.ids) == ["OGLE-LMC-CEP-00001"]
    reasons = dict(zip(rejected["id"], rejected["reason"]))
    assert reasons["OGLE-LMC-CEP-00002"].startswith("unreadable file:")
    assert "OGLE-LMC-CEP-00002.dat: line 2 has 2 columns" in reasons["OGLE-LMC-CEP-00002"]
    assert "line 2 'foo 18.1 0.02' is not numeric" in reasons["OGLE-LMC-CEP-00003"]
    with pytest.raises(DataError, match="OGLE-LMC-CEP-00002.dat: line 2"):
        read_ogle_dat(tmp_path, on_error="raise")


def _write_npy_gz(path, lcs_NT3, meta):
    buf = io.BytesIO()
    np.save(buf, np.array({"lcs": lcs_NT3, "meta": meta}, dtype=object), allow_pickle=True)
    path.write_bytes(gzip.compress(buf.getvalue()))


def test_pelsvae_npy_gz_refused_then_converted(tmp_path):
    rng = np.random.default_rng(0)
    n, half = 3, 300
    phase1 = np.sort(rng.uniform(0, 1, (n, half)), axis=1)
    mag1 = np.sin(2 * np.pi * phase1) + 15
    err1 = np.full((n, half), 0.02)
    lcs_NT3 = np.concatenate([np.stack([phase1, mag1, err1], -1), np.stack([phase1 + 1, mag1, err1], -1)], axis=1)
    meta = pd.DataFrame({"Type": ["RRLYR", "RRLYR", "CEP"], "OGLE_id": ["OGLE-A", "OGLE-A", "OGLE-B"],
                         "[Fe/H]_J95": [-1.0, -1.1, 0.0], "teff_val": [3.8, 3.8, 3.7], "Period": [np.log10(0.5)] * 2 + [1.0],
                         "abs_Gmag": [0.5, 0.5, -3.0], "radius_val": [0.7, 0.7, 1.5], "logg": [2.5, 2.5, 1.5]})
    path = tmp_path / "OGLE3_lcs_I_meta_snr5_augmented_folded_trim600_GAIA3_LOG_IMPUTED_BY_CLASS_6PP.npy.gz"
    _write_npy_gz(path, lcs_NT3.astype(np.float32), meta)
    with pytest.raises(DataError, match="pickle.*trust_pickle=True") as refused:
        read_pelsvae_npy_gz(path)
    # the advice names a way that exists (no command has a --trust-pickle option) and works
    assert "--trust-pickle" not in str(refused.value) and "write_standard(" in str(refused.value)
    converted = write_standard(read_pelsvae_npy_gz(path, trust_pickle=True), tmp_path / "converted")
    assert len(read_dataset(converted)) == 3
    with pytest.raises(DataError, match="pickle"):
        read_dataset(path)
    lcs = read_dataset(path, trust_pickle=True)
    assert list(lcs.ids) == ["OGLE-A", "OGLE-A~1", "OGLE-B"] and list(lcs.meta["source_id"]) == ["OGLE-A"] * 2 + ["OGLE-B"]
    np.testing.assert_allclose(lcs.periods, [0.5, 0.5, 10.0], rtol=1e-6)  # LOG file: 10**Period
    assert list(lcs.lengths) == [half] * 3  # first cycle only
    np.testing.assert_allclose(lcs.curve(0)[0] / 0.5, phase1[0].astype(np.float32), rtol=1e-6)
    assert "teff_val" in lcs.meta.columns and list(lcs.meta["class"]) == ["RRLYR", "RRLYR", "CEP"]
    assert len(read_pelsvae_npy_gz(path, trust_pickle=True, cycles=2).curve(0)[0]) == 2 * half


def _gaia_frame(source_ids, n=15, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for sid in source_ids:
        for band in ("G", "BP", "RP"):
            for k in range(n):
                flux = rng.uniform(900, 1100)
                rows.append({"source_id": sid, "transit_id": k, "band": band, "time": 1700 + 10.0 * k + rng.uniform(0, 1),
                             "mag": 15 + rng.normal(0, 0.1), "flux": flux, "flux_error": flux / 200.0,
                             "flux_over_error": 200.0, "rejected_by_photometry": False,
                             "rejected_by_variability": k == 3})
    return pd.DataFrame(rows)


def test_gaia_datalink_rows_g_band_only(tmp_path):
    df = _gaia_frame(["4111834567779557376", "5111834567779557377"])
    df.to_csv(tmp_path / "many.csv", index=False)
    pd.DataFrame({"source_id": ["4111834567779557376", "5111834567779557377"], "class": ["RRLYR", "ECL"]}) \
        .to_csv(tmp_path / "meta.csv", index=False)
    lcs = read_dataset(tmp_path / "many.csv")
    assert list(lcs.ids) == ["4111834567779557376", "5111834567779557377"]
    assert list(lcs.lengths) == [14, 14]  # G band only, the variability-rejected transit dropped
    assert list(lcs.meta["class"]) == ["RRLYR", "ECL"]
    g = df[(df.band == "G") & ~df.rejected_by_variability & (df.source_id == "4111834567779557376")]
    np.testing.assert_allclose(lcs.curve(0)[0], g["time"])
    np.testing.assert_allclose(lcs.curve(0)[2], 2.5 / math.log(10) / 200.0)
    keep_all = read_gaia_epoch(tmp_path / "many.csv", drop_rejected=False)
    assert list(keep_all.lengths) == [15, 15]


def test_gaia_per_source_votable_files_with_id_from_name(tmp_path):
    from astropy.table import Table

    for k, sid in enumerate(["111111111111", "222222222222"]):
        df = _gaia_frame([sid], seed=k).drop(columns="source_id")
        df["band"] = df["band"].astype(str)
        Table.from_pandas(df).write(tmp_path / f"EPOCH_PHOTOMETRY-Gaia DR3 {sid}.xml", format="votable")
    lcs = read_dataset(tmp_path)
    assert list(lcs.ids) == ["111111111111", "222222222222"]
    assert list(lcs.lengths) == [14, 14]


def test_gaia_archive_table_transit_rows_and_array_cells(tmp_path):
    # gaiadr3.epoch_photometry with one row per transit (flux_over_error only -> err from it)
    rows = pd.DataFrame({"source_id": ["7"] * 4 + ["8"] * 3, "g_transit_time": np.arange(7.0) + 1700,
                         "g_transit_mag": np.linspace(14, 15, 7), "g_transit_flux_over_error": [100.0, 50, 25, 10, 100, 200, 50],
                         "variability_flag_g_reject": ["false", "false", "true", "false", "false", "false", "false"]})
    rows.to_csv(tmp_path / "transits.csv", index=False)
    lcs = read_gaia_epoch(tmp_path / "transits.csv")
    assert list(lcs.ids) == ["7", "8"] and list(lcs.lengths) == [3, 3]
    np.testing.assert_allclose(lcs.curve(0)[2], 2.5 / math.log(10) / np.array([100.0, 50, 10]))
    # one row per source with array cells, as the archive's CSV writes them
    per_source = pd.DataFrame({
        "source_id": ["9", "10"],
        "g_transit_time": ["(1700.0, 1701.5, 1703.0)", "(1800.0, 1802.0)"],
        "g_transit_mag": ["(14.0, 14.2, null)", "(15.0, 15.1)"],
        "g_transit_flux": ["(1000.0, 900.0, 800.0)", "(500.0, 400.0)"],
        "g_transit_flux_error": ["(10.0, 9.0, 8.0)", "(5.0, 8.0)"],
    })
    per_source.to_csv(tmp_path / "arrays.csv", index=False)
    lcs = read_dataset(tmp_path / "arrays.csv")
    assert list(lcs.ids) == ["9", "10"] and list(lcs.lengths) == [2, 2]  # the empty magnitude is dropped
    np.testing.assert_allclose(lcs.curve(1)[2], 2.5 / math.log(10) * np.array([0.01, 0.02]))
    pd.DataFrame({"source_id": ["1"], "band": ["G"], "time": [1.0], "mag": [2.0]}).to_csv(tmp_path / "noerr.csv", index=False)
    with pytest.raises(DataError, match=r"noerr.csv: no magnitude error.*rule: missing columns"):
        read_gaia_epoch(tmp_path / "noerr.csv")


def test_read_dataset_unknown_and_missing(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_dataset(tmp_path / "nope")
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="cannot tell the format"):
        read_dataset(tmp_path / "x.csv")


def test_load_dataset_writes_rejected(tmp_path):
    lcs = _small_set()
    lcs = LightCurveSet.from_arrays(list(lcs.ids) + ["short"], [*(lcs.curve(i)[0] for i in range(3)), [1.0, 2.0]],
                                    [*(lcs.curve(i)[1] for i in range(3)), [1.0, 2.0]],
                                    [*(lcs.curve(i)[2] for i in range(3)), [0.1, 0.1]], star_class=["CEP", "CEP", "LPV", "LPV"])
    write_standard(lcs, tmp_path / "data")
    kept, rejected = load_dataset(tmp_path / "data", workdir=tmp_path / "run")
    assert len(kept) == 3
    rej = pd.read_csv(tmp_path / "run" / "rejected.csv")
    assert list(rej["id"]) == ["short"] and rej["reason"][0].startswith("too few points")


# ------------------------------------------------------------------------- real dev data
def test_gaia_dr3_dev_reads_500_stars(shared_data):
    lcs = read_dataset(shared_data / "gaia_dr3_dev")
    assert len(lcs) == 500
    assert lcs.class_counts() == {c: 100 for c in ("CEP", "DSCT", "ECL", "LPV", "RRLYR")}
    assert lcs.lengths.min() >= 20 and lcs.ids[0] == "1024814763450749440"
    kept, rejected = validate(lcs)
    assert len(rejected) == 0 and list(kept.ids) == list(lcs.ids)  # the dev set is clean: nothing lost
    # A stricter minimum rejects exactly the short curves (63 under 40 points), each for that reason.
    kept, rejected = validate(lcs, min_points=40)
    assert len(kept) == 437 and kept.class_counts() == {"CEP": 88, "DSCT": 94, "ECL": 65, "LPV": 90, "RRLYR": 100}
    assert set(rejected["id"]) == set(lcs.ids[lcs.lengths < 40])
    assert rejected["reason"].str.match(r"too few points: \d+ < 40").all()


def test_ogle_dsct_original_cuts_match_original(shared_data):
    lcs = read_dataset(shared_data / "ogle_dat")
    kept, rejected = original_cuts(lcs, seq_length=100, snr_threshold=4.0)
    snr = dict(zip(kept.ids, kept.meta["snr"]))
    # the original's kept rows are the kept pairs (the set also holds their original predecessors)
    pairs = np.add.reduceat(kept.pair_ok.astype(np.int64), kept.offsets[:-1])
    n_rows = dict(zip(kept.ids, pairs))
    assert (kept.lengths > pairs).all()
    assert n_rows["OGLE-LMC-DSCT-00310"] == 804 and round(snr["OGLE-LMC-DSCT-00310"], 2) == 8.97
    assert n_rows["OGLE-LMC-DSCT-00344"] == 110 and round(snr["OGLE-LMC-DSCT-00344"], 2) == 9.51
    kept300, rejected300 = original_cuts(lcs, seq_length=300, snr_threshold=4.0)
    assert list(kept300.ids) == ["OGLE-LMC-DSCT-00310"]
    assert rejected300["reason"].iloc[0] == "too short after cuts: 110 rows kept <= seq_length 300"
    with pytest.raises(DataError, match="low SNR: 2"):
        original_cuts(lcs, seq_length=100, snr_threshold=10.0)
