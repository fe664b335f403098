"""Experiment config files (`get_config()` in a .py file, or JSON) and sweeps over one setting.

A config file's `get_config()` returns an `ExperimentConfig`, a dict of changes to the preset, or a
`Sweep` (one setting varied over values, e.g. the bias temperature); `run_sweep` runs one
experiment per value into `workdir/<setting>=<value>/` and writes `sweep.json` and `sweep.md`.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path
from typing import Any

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.experiments.config import ExperimentConfig


@dataclasses.dataclass(frozen=True)
class Sweep:
    """`base` run once per value of `setting` (an ExperimentConfig field or a dotted path into its
    nested configs, e.g. "shift.temperature", "regulator.ranking_method")."""

    name: str
    setting: str
    values: tuple[Any, ...]
    base: ExperimentConfig | None = None  # None: the preset chosen on the command line
    description: str = ""
    changes: tuple[tuple[str, Any], ...] = ()  # applied to the base before the sweep

    def configs(self, base: ExperimentConfig) -> list[tuple[Any, ExperimentConfig]]:
        start = (self.base or base).replace(**dict(self.changes))
        return [(v, start.replace(**{self.setting: v})) for v in self.values]


def load_config(path: str | Path, base: ExperimentConfig | None = None) -> ExperimentConfig | Sweep:
    """Read a config file: .py (module with get_config()) or .json (ExperimentConfig settings,
    possibly partial, changing `base`: nested configs as objects whose given fields change, e.g.
    {"regulator": {"decay_parameter_2": 0.46}, "train": {"batch_size": 64}}, or dotted paths,
    {"regulator.decay_parameter_2": 0.46}; flat files of earlier versions load through
    `config.FLAT_NAMES`)."""
    path = Path(path)
    base = base or ExperimentConfig()
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    if path.suffix == ".json":
        try:
            changes = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}: not valid JSON ({err})") from None
        if not isinstance(changes, dict):
            raise ConfigError(f"{path}: a JSON config is an object of ExperimentConfig settings")
        return base.replace(**changes)
    if path.suffix != ".py":
        raise ConfigError(f"{path}: a config is a .py file with get_config() or a .json file")
    spec = importlib.util.spec_from_file_location(f"_jaxpelsvae_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as err:
        if err.name != "jaxpelsvae.experiments.configs":
            raise
        # the module's name of earlier versions, one letter from `config`
        raise ConfigError(f"{path}: jaxpelsvae.experiments.configs is now jaxpelsvae.experiments.config_files "
                          "(`from jaxpelsvae.experiments.config_files import Sweep`)") from None
    if not hasattr(module, "get_config"):
        raise ConfigError(f"{path}: defines no get_config()")
    cfg = module.get_config()
    if isinstance(cfg, dict):
        return base.replace(**cfg)
    if isinstance(cfg, (ExperimentConfig, Sweep)):
        return cfg
    raise ConfigError(f"{path}: get_config() returned {type(cfg).__name__}, expected ExperimentConfig, Sweep or dict")


def run_sweep(data, sweep: Sweep, base: ExperimentConfig, workdir: str | Path, seed: int = 0, *, test_data=None,
              resume: bool = True) -> dict:
    """One experiment per value; returns and writes {name, setting, rows[{value, mode, summary...,
    paired_diff_mean, paired_p}]}: the main classifier's summary per mode, and on the selfreg row its
    seed-paired macro-F1 difference from the baseline and the signed-rank p (report.json's `paired`)."""
    from jaxpelsvae.experiments.report import _signed, _table
    from jaxpelsvae.experiments.runner import run_experiment

    workdir = Path(workdir).absolute()
    rows = []
    for value, cfg in sweep.configs(base):
        sub = workdir / f"{sweep.setting}={value}"
        result = run_experiment(data, cfg, sub, seed, test_data=test_data, resume=resume)
        rows += _sweep_rows(value, result.report, sub / "report.md")
    out = {"name": sweep.name, "setting": sweep.setting, "description": sweep.description, "rows": rows}
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "sweep.json").write_text(json.dumps(out, indent=1, default=str) + "\n")
    table = _table(
        [sweep.setting, "mode", "runs", "macro-F1 mean", "std", "min", "max", "AUC ovo", "paired difference", "p"],
        [[r["value"], r["mode"], r["n_runs"], r["macro_f1_mean"], r["macro_f1_std"], r["macro_f1_min"],
          r["macro_f1_max"], r["roc_auc_ovo_mean"], _signed(r["paired_diff_mean"]) if r["paired_diff_mean"] is not None
          else None, f"{r['paired_p']:.3g}" if r["paired_p"] is not None else None] for r in rows],
    )
    (workdir / "sweep.md").write_text(f"# Sweep: {sweep.name}\n\n{sweep.description}\n\n{table}\n")
    out["table"] = table
    return out


def _sweep_rows(value, report: dict, report_md: Path) -> list[dict]:
    """One sweep row per mode of the report's main classifier; the paired statistics sit on the row of
    the mode compared with the baseline."""
    from jaxpelsvae.experiments.report import main_classifier

    paired = (report.get("paired") or {}).get(main_classifier(report))
    rows = []
    for mode, s in report["summary"].items():
        mine = paired is not None and mode == paired["modes"][1]
        rows.append({"value": value, "mode": mode, **s,
                     "paired_diff_mean": paired["macro_f1"]["diff_mean"] if mine else None,
                     "paired_p": paired["macro_f1"]["p_value"] if mine else None, "report": str(report_md)})
    return rows
