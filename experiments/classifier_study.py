"""Classifier study: each registered classifier (view + backbone), trained plainly, on three real-data scenarios beside a feature forest.

Scenarios (macro-F1 of the test stars, mean ± std over seeds):
  gaia:      gaia_dr3_dev, stratified random 70/15/15 split (train / validation / test), split seed = run seed;
  gaia2eros: train on gaia_dr3_dev (85/15 train/validation) restricted to the classes EROS-1 shares
             (CEP, ECL, LPV, RRLYR), test on every eros1_dev star;
  sim2gaia:  train on a simulated Gaia-cadence survey (`simulate_survey(cadence="gaia")`, 85/15),
             test on every gaia_dr3_dev star.
Periods: the catalogue's where the data give them (EROS-1), else the project's label-free search
(`period.fill.find_periods_label_free`, what `experiment` gives every classifier input; --period-prior
sets its `PeriodConfig.period_prior`), found the same way for training and test stars and cached in
--cache. (Before 2026-12-01 the study searched with a doubling test on every star, margin 10, which
no command of the project uses; it cost sim -> gaia 0.3.) Training: focal loss with class weights, Adam (clip 6) with cosine
decay, batch 32, early stopping on the validation loss (--select f1: on validation macro-F1; both
best epochs are reported, see item 5 of issue 14).
The forest: `jaxpelsvae.models.forest` (300 trees on nine simple features of `light_curve_features`, same periods).

A classifier named ens-NAME is NAME and the forest together: the mean of their class probabilities.

Usage: python experiments/classifier_study.py [--classifiers cnn,folded,hybrid,multifold,ens-multifold] [--scenarios gaia,gaia2eros,sim2gaia]
       [--seeds 3] [--epochs 40] [--patience 10] [--lr 3e-3] [--view '{"bins": 32}'] [--out results.json]
(--view applies to every classifier but cnn, e.g. '{"amplitude": false, "noise": 1.0}' for multifold.)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# The development data beside the checkout (../shared/data), or one level further up.
DATA = next((d for d in (ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data") if d.is_dir()),
            ROOT.parent / "shared" / "data")
SHARED_CLASSES = ("CEP", "ECL", "LPV", "RRLYR")


# ------------------------------------------------------------------ data and periods
def load(name: str, cache: Path, sim_per_class: int, catalogue: bool = True, period_prior: float = 0.0):
    """(LightCurveSet, periods (N,)) of a named set; Lomb-Scargle periods are cached in `cache`.

    catalogue: use the data's own periods where every star has one (False: find them too)."""
    from jaxpelsvae.data.readers import load_dataset
    from jaxpelsvae.period.fill import find_periods_label_free
    from jaxpelsvae.period.search import PeriodConfig
    from jaxpelsvae.simulate.survey import simulate_survey

    if name == "sim":
        lcs = simulate_survey({c: sim_per_class for c in ("CEP", "DSCT", "ECL", "LPV", "RRLYR")}, cadence="gaia", seed=1)
    else:
        lcs, _ = load_dataset(DATA / {"gaia": "gaia_dr3_dev", "eros": "eros1_dev"}[name])
    if catalogue and lcs.periods is not None and np.isfinite(lcs.periods).all():
        return lcs, np.asarray(lcs.periods, np.float64)  # catalogue periods, as given
    path = cache / f"periods_{name}_{len(lcs)}_label_free_prior{period_prior:g}.csv"
    import pandas as pd

    if path.exists():
        df = pd.read_csv(path, dtype={"id": str})
    else:
        df = find_periods_label_free(lcs, PeriodConfig(period_prior=period_prior))
        cache.mkdir(parents=True, exist_ok=True)
        df.to_csv(path, index=False)
    if not np.array_equal(df["id"].astype(str).to_numpy(), np.asarray(lcs.ids).astype(str)):
        raise RuntimeError(f"{path} does not match the stars of {name}; delete it")
    return lcs, df["period"].to_numpy(np.float64)


def restrict(lcs, periods, classes):
    """The stars of `classes` only, relabelled in that order."""
    keep = np.isin(np.asarray(lcs.meta["class"]).astype(str), classes)
    idx = np.flatnonzero(keep)
    return lcs.select(idx).with_classes(list(classes)), periods[idx]


def split(lcs, periods, fractions, seed):
    """Stratified random parts (LightCurveSet.split) with their periods."""
    parts = lcs.split(fractions, seed=seed)
    pos = {sid: i for i, sid in enumerate(np.asarray(lcs.ids))}
    return [(p, periods[[pos[s] for s in np.asarray(p.ids)]]) for p in parts]


def macro_f1(y, pred, k):
    from jaxpelsvae.train.metrics import confusion_matrix, per_class_scores

    cm = confusion_matrix(np.asarray(y), np.asarray(pred), k)
    _, _, f1 = per_class_scores(cm)
    occurs = (cm.sum(0) + cm.sum(1)) > 0
    return float(f1[occurs].mean())


# ------------------------------------------------------------------ training one classifier
def _pad_rows(tree, rows):
    import jax
    import jax.numpy as jnp

    return jax.tree.map(lambda a: jnp.concatenate([a, jnp.zeros((rows - a.shape[0],) + a.shape[1:], a.dtype)]), tree)


def _predict(eval_step, state, x, batch):
    import jax

    n = jax.tree.leaves(x)[0].shape[0]
    outs = []
    for a in range(0, n, batch):
        xb = jax.tree.map(lambda v: v[a:a + batch], x)
        m = jax.tree.leaves(xb)[0].shape[0]
        out = eval_step(state, {"x": _pad_rows(xb, batch)})
        outs.append(np.asarray(out["logprobs"])[:m])
    return np.concatenate(outs)


def train_one(name, train, val, tests, classes, seed, args, view_kw, backbone_kw):
    """Train classifier `name` on train=(lcs, periods); early-stop on val; macro-F1 on each test set.

    Returns {test name: f1, "best_epoch", "best_loss_epoch", "epochs_run", "history"}.
    """
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    from jaxpelsvae.train.losses import class_weights_alpha, focal_loss
    from jaxpelsvae.train.state import create_train_state, make_optimizer
    from jaxpelsvae.train.steps import classifier_eval_fn, classifier_loss_fn, make_eval_step, make_train_step
    from jaxpelsvae.views import view_batch
    from jaxpelsvae.views.registry import build_backbone

    k = len(classes)
    padded = {key: (lcs.to_padded(multiple_of=32), per, lcs.labels) for key, (lcs, per) in
              {"train": train, "val": val, **tests}.items()}
    augment = {} if name == "cnn" else {"augment": args.augment}
    root = jax.random.key(seed)
    fixed = {key: view_batch(name, p, per, jax.random.fold_in(root, 10_000 + i), **view_kw)
             for i, (key, (p, per, _)) in enumerate(padded.items()) if key != "train"}
    model = build_backbone(name, k, nnx.Rngs(seed), view_overrides=view_kw, **backbone_kw)
    steps_per_epoch = -(-len(train[0]) // args.batch)
    # Cosine decay from lr to lr/20 over the epoch budget: late epochs stop jumping between minima,
    # which on 75 validation stars made the best epoch a lottery.
    lr = optax.cosine_decay_schedule(args.lr, args.epochs * steps_per_epoch, alpha=0.05) if args.schedule == "cosine" else args.lr
    tx = make_optimizer(lr)
    graphdef, state = create_train_state(model, tx, jax.random.key(seed))  # its own key: steps donate the state
    y_train = padded["train"][2]
    alpha = class_weights_alpha(y_train, k)
    step = make_train_step(graphdef, classifier_loss_fn("focal", alpha_K=alpha), tx)
    eval_step = make_eval_step(graphdef, classifier_eval_fn("focal", alpha_K=alpha))
    n = len(y_train)
    rng = np.random.default_rng(seed)
    best_f1, best_epoch, best_loss, best_loss_epoch, best_state, history = -1.0, -1, np.inf, -1, None, []
    p_train, per_train, _ = padded["train"]
    for epoch in range(args.epochs):
        # Fresh view every epoch: new random pairs, and (folded views) new augmentation draws.
        x_train = view_batch(name, p_train, per_train, jax.random.fold_in(root, epoch), **view_kw, **augment)
        order = rng.permutation(n)
        for a in range(0, n, args.batch):
            idx = order[a:a + args.batch]
            xb = _pad_rows(jax.tree.map(lambda v: v[idx], x_train), args.batch)
            w = np.zeros(args.batch, np.float32)
            w[: idx.size] = 1.0
            y = np.zeros(args.batch, np.int32)
            y[: idx.size] = y_train[idx]
            state, _ = step(state, {"x": xb, "y": y, "weight": w})
        logp = _predict(eval_step, state, fixed["val"], args.batch)
        y_val = padded["val"][2]
        f1 = macro_f1(y_val, logp.argmax(1), k)
        loss = float(focal_loss(jnp.asarray(logp), jnp.asarray(y_val), alpha_K=alpha))
        history.append((round(f1, 4), round(loss, 4)))
        new_loss, new_f1 = loss < best_loss, f1 > best_f1
        if new_loss:
            best_loss, best_loss_epoch = loss, epoch
        if new_f1:
            best_f1 = f1
        if (new_loss if args.select == "loss" else new_f1):
            best_epoch, best_state = epoch, jax.device_get(state)
        if epoch - best_epoch >= args.patience:
            break
    best_state = jax.device_put(best_state)
    out = {"best_epoch": best_epoch, "best_loss_epoch": best_loss_epoch, "epochs_run": epoch + 1,
           "val_f1": best_f1, "history": history}
    for key in tests:
        logp = _predict(eval_step, best_state, fixed[key], args.batch)
        out[key] = macro_f1(padded[key][2], logp.argmax(1), k)
        out[f"{key}_prob"] = np.exp(logp.astype(np.float64))
    return out


def forest(train, tests, seed):
    """The project's feature forest (`jaxpelsvae.models.forest`: 300 trees on nine period-based features); macro-F1
    (and class probabilities, "<test>_prob") per test set."""
    from jaxpelsvae.models.forest import fit_forest

    lcs, per = train
    rf = fit_forest(lcs, per, seed=seed)
    out = {}
    for key, (t, p) in tests.items():
        out[f"{key}_prob"] = rf.predict_proba(t, p)
        out[key] = macro_f1(t.labels, out[f"{key}_prob"].argmax(1), len(lcs.classes))
    return out


def ensemble(net, rf, tests):
    """The mean of a network's and the forest's class probabilities per test star: {test: macro-F1, "net_<test>",
    "rf_<test>": each member's own}."""
    out = {k: v for k, v in net.items() if not k.endswith("_prob")}
    for key, (t, _) in tests.items():
        prob = 0.5 * (net[f"{key}_prob"] + rf[f"{key}_prob"])
        out.update({key: macro_f1(t.labels, prob.argmax(1), len(t.classes)), f"net_{key}": net[key], f"rf_{key}": rf[key]})
    return out


# ------------------------------------------------------------------ scenarios
def scenario_parts(scenario, seed, sets):
    """(train, val, {"test": test}, classes) of one scenario and seed."""
    gaia, eros, sim = sets.get("gaia"), sets.get("eros"), sets.get("sim")
    if scenario == "gaia":
        tr, va, te = split(*gaia, (0.7, 0.15, 0.15), seed)
        return tr, va, {"test": te}, gaia[0].classes
    if scenario == "gaia2eros":
        g = restrict(*gaia, SHARED_CLASSES)
        e = restrict(*eros, SHARED_CLASSES)
        tr, va = split(*g, (0.85, 0.15), seed)
        return tr, va, {"test": e}, SHARED_CLASSES
    if scenario == "sim2gaia":
        tr, va = split(*sim, (0.85, 0.15), seed)
        g = (gaia[0].with_classes(list(sim[0].classes)), gaia[1])
        return tr, va, {"test": g}, sim[0].classes
    raise ValueError(scenario)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classifiers", default="rf,cnn,folded,hybrid,multifold")
    ap.add_argument("--scenarios", default="gaia,gaia2eros,sim2gaia")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--patience", type=int, default=15)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--schedule", choices=("cosine", "constant"), default="cosine")
    ap.add_argument("--select", choices=("loss", "f1"), default="loss", help="early stopping on validation loss or macro-F1")
    ap.add_argument("--augment", type=int, default=1, help="augment folded views in training (1/0)")
    ap.add_argument("--view", default="{}", help="JSON view overrides, e.g. '{\"bins\": 32}'")
    ap.add_argument("--backbone", default="{}", help="JSON backbone keyword arguments")
    ap.add_argument("--cnn-length", type=int, default=96, help="L of the original CNN's pairs")
    ap.add_argument("--sim-per-class", type=int, default=600)
    ap.add_argument("--cache", default="/tmp/cstudy")
    ap.add_argument("--no-catalogue-periods", action="store_true",
                    help="find every star's period by Lomb-Scargle, even where the data give one (EROS-1)")
    ap.add_argument("--period-prior", type=float, default=0.0,
                    help="PeriodConfig.period_prior of the label-free search (1: log-uniform prior on the period)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    cache = Path(args.cache)
    scenarios = args.scenarios.split(",")
    need = {"gaia"} | ({"eros"} if "gaia2eros" in scenarios else set()) | ({"sim"} if "sim2gaia" in scenarios else set())
    sets = {name: load(name, cache, args.sim_per_class, not args.no_catalogue_periods, args.period_prior) for name in sorted(need)}
    results = []
    for clf in args.classifiers.split(","):
        net = clf.removeprefix("ens-")
        view_kw = json.loads(args.view) if net != "cnn" else {"length": args.cnn_length}
        backbone_kw = json.loads(args.backbone) if net != "cnn" else {}
        for scenario in scenarios:
            rows = []
            t0 = time.time()
            for seed in range(args.seeds):
                tr, va, tests, classes = scenario_parts(scenario, seed, sets)
                if clf == "rf":
                    r = forest(tr, tests, seed)
                elif clf.startswith("ens-"):
                    r = ensemble(train_one(net, tr, va, tests, classes, seed, args, view_kw, backbone_kw),
                                 forest(tr, tests, seed), tests)
                else:
                    r = train_one(clf, tr, va, tests, classes, seed, args, view_kw, backbone_kw)
                r = {k: v for k, v in r.items() if not k.endswith("_prob")}
                rows.append(r)
                print(json.dumps({"classifier": clf, "scenario": scenario, "seed": seed,
                                  **{k: v for k, v in r.items() if k != "history"}}), flush=True)
            f1 = np.array([r["test"] for r in rows])
            summary = {"classifier": clf, "scenario": scenario, "view": view_kw, "backbone": backbone_kw,
                       "augment": args.augment, "f1_mean": float(f1.mean()), "f1_std": float(f1.std(ddof=1)) if len(f1) > 1 else 0.0,
                       "f1": f1.round(4).tolist(), "best_epochs": [r.get("best_epoch") for r in rows],
                       "best_loss_epochs": [r.get("best_loss_epoch") for r in rows],
                       "wall_s": round(time.time() - t0, 1), "runs": rows}
            results.append(summary)
            print(f"== {clf:7s} {scenario:10s} macro-F1 {summary['f1_mean']:.3f} ± {summary['f1_std']:.3f} "
                  f"best epochs {summary['best_epochs']} ({summary['wall_s']} s)", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
