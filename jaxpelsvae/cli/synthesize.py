"""`jaxpelsvae synthesize --generator W --out DIR`: generate synthetic light curves and write them in the standard layout."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "generate synthetic light curves with a fitted generator and write them in the standard layout"
OUT_KIND = "dir"  # --out names a folder
DESCRIPTION = (
    "Sample physical parameters per class at temperature --b (draws from p^b), map them to the VAE's "
    "latent space, decode folded templates, reverse-fold them onto real same-class cadences with the "
    "donors' noise, and write lightcurves.csv.gz + meta.csv (id, class, period, physical parameters, "
    "donor) into --out, readable by every command that takes DATA."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--generator", type=Path, required=True,
                        help="generator folder written by `jaxpelsvae fit-generator` (or its workdir)")
    parser.add_argument("--out", type=Path, required=True, help="output dataset folder")
    parser.add_argument("--counts", default="100",
                        help="curves per class: one integer for every class, or CLASS=N,CLASS=N")
    parser.add_argument("--b", type=float, default=1.0, help="prior temperature b > 0 (b < 1 flatter, b > 1 sharper)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="light curves per decoded template, each on its own donor cadence with its own "
                             "phase and noise (the original's n_oversampling); --counts counts templates")
    parser.add_argument("--chunk", type=int, default=4096, help="templates generated per device call")
    parser.add_argument("--format", choices=("csv.gz", "csv", "parquet"), default="csv.gz", help="light-curve file format")


def _counts(text: str, classes) -> dict:
    from jaxpelsvae.errors import ConfigError

    text = text.strip()
    if "=" not in text:
        try:
            return {c: int(text) for c in classes}
        except ValueError:
            raise ConfigError(f"--counts: expected an integer or CLASS=N pairs, got {text!r}") from None
    out = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = int(value)
        except ValueError:
            raise ConfigError(f"--counts: bad entry {part!r} (expected CLASS=N)") from None
    return out


def uses_workdir(args: argparse.Namespace) -> bool:
    """Everything goes to --out."""
    return False


def run(args: argparse.Namespace) -> int:
    import json

    import jax
    import numpy as np
    from tqdm.auto import tqdm

    from jaxpelsvae.data import LightCurveSet, write_standard
    from jaxpelsvae.synth.generator import load_generator

    from jaxpelsvae.errors import ConfigError

    if args.repeats < 1 or args.chunk < 1:
        raise ConfigError(f"--repeats and --chunk must be >= 1, got {args.repeats} and {args.chunk}")
    folder = Path(args.generator)
    gen = load_generator(folder)
    counts = gen.counts_array(_counts(args.counts, gen.classes))
    total = int(counts.sum())
    root = jax.random.key(args.seed)
    # chunks: split the per-class counts proportionally, generate each with its own key
    remaining = counts.copy()
    parts, step = [], 0
    with tqdm(total=total * args.repeats, desc="synthesize", unit="curve") as bar:
        while remaining.sum() > 0:
            take = np.minimum(remaining, np.ceil(remaining * min(1.0, args.chunk / remaining.sum())).astype(int))
            batch = gen.generate(jax.random.fold_in(root, step), take, args.b, repeats=args.repeats)
            part = gen.to_lightcurves(batch, prefix=f"synth-{step:03d}")
            if args.repeats > 1:  # which curves share a decoded template
                template = [f"synth-{step:03d}-t{i // args.repeats:07d}" for i in range(len(part))]
                part = part.with_meta(part.meta.assign(template=template))
            parts.append(part)
            remaining -= take
            step += 1
            bar.update(int(take.sum()) * args.repeats)
    lcs = parts[0] if len(parts) == 1 else LightCurveSet.concatenate(parts, classes=gen.classes)
    lcs = lcs.with_meta(lcs.meta.assign(b=args.b))
    out = write_standard(lcs, args.out, fmt=args.format)
    (Path(args.out) / "synthesis.json").write_text(json.dumps(
        {"generator": str(folder), "counts": dict(zip(gen.classes, counts.tolist())), "repeats": args.repeats,
         "b": args.b, "seed": args.seed,
         "backend": jax.default_backend()}, indent=2))
    print(f"wrote {len(lcs)} synthetic curves ({dict(zip(gen.classes, counts.tolist()))} templates per class, "
          f"{args.repeats} curve(s) each) to {out}")
    return 0
