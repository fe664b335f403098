"""Synthetic curves per second: `Generator.generate` (one jitted program) against a per-curve Python loop of the same computation.

The loop follows the original's structure (ORIGINAL.md §8, §16): for every template separately,
sample its physical parameters, predict its latent code and call the decoder with batch size 1; then
for each of its R light curves (the original's n_oversampling) reverse-fold and encode it, fetching
the result to the host (jitted single-curve functions, so the comparison measures batching and
dispatch, not compilation). Both use the same fitted generator (simulated OGLE-like training survey,
untrained full-size PELS-VAE: speed does not depend on training) and count output curves. Measured
at R = 1 (every curve decoded) and R = --repeats (the paper preset's n_oversampling, 10).
Usage: python benchmarks/bench_synth.py [--quick] [--sizes 64,256,1024] [--loop N] [--repeats R] [--json PATH]
"""
from __future__ import annotations

import argparse
import time

import benchlib


def batched_without_decoder(gen, n: int):
    """`generate`'s program for n slots with the decoder replaced by given templates (jitted)."""
    import jax
    import jax.numpy as jnp

    from jaxpelsvae.data.encode import encode_batch
    from jaxpelsvae.synth.reverse_fold import synthesize_batch

    cfg = gen.config
    grid = jnp.asarray(gen._phase_cycles_G)  # noqa: SLF001

    @jax.jit
    def run(consts, key, counts, b, template_NG):
        k_phys, k_lat, k_cur = jax.random.split(key, 3)
        labels, _, phys = gen._sample_physics(consts, k_phys, counts, b, n)  # noqa: SLF001
        z = gen._latent_mlp(consts, k_lat, phys, labels)  # noqa: SLF001
        _, k_syn, k_enc = jax.random.split(k_cur, 3)
        tmpl = template_NG + 0.0 * z[:, :1]  # keeps the latent step live, as in generate
        syn = synthesize_batch(k_syn, tmpl, phys[:, gen._period_col], labels, consts["bank"], grid,  # noqa: SLF001
                               k_nearest=cfg.k_nearest, target_snr=cfg.target_snr)
        return encode_batch(syn.time, syn.mag, syn.mask, k_enc, length=cfg.seq_length, order=cfg.order)[0]

    return run


def per_curve_loop(gen, key, labels, b: float, *, decode: bool = True, templates=None, repeats: int = 1):
    """The same chain as `generate`, one template and one curve at a time (the original's structure).

    Returns the list of encoded curves (len(labels) * repeats). decode=False takes template i from
    `templates` instead of calling the decoder."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxpelsvae.data.encode import encode_curve
    from jaxpelsvae.physics.latent import mlp_sample
    from jaxpelsvae.physics.priors import sample_physics
    from jaxpelsvae.synth.reverse_fold import synthesize_one

    consts = gen._consts()  # noqa: SLF001
    cfg, pcfg = gen.config, gen.priors.config
    fns = getattr(gen, "_bench_loop_fns", None)
    if fns is None:
        grid = jnp.asarray(gen._phase_cycles_G)  # noqa: SLF001
        fns = (
            jax.jit(lambda c, k, y, bb: sample_physics(k, c["priors"], y[None], bb, candidates=pcfg.candidates,
                                                       truncate=pcfg.truncate)),
            jax.jit(lambda c, k, p, y: mlp_sample(c["mlp"], gen.latent.stats, k, p, y[None])),
            jax.jit(lambda c, z, y, p: gen._decode(c, z, y[None], p)),  # noqa: SLF001
            jax.jit(lambda c, k, t, lp, y: synthesize_one(k, t, lp, y, c["bank"], grid, k_nearest=cfg.k_nearest,
                                                          target_snr=cfg.target_snr)),
            jax.jit(lambda t, m, mask, k: encode_curve(t, m, mask, k, length=cfg.seq_length, order=cfg.order)),
        )
        gen._bench_loop_fns = fns  # noqa: SLF001
    sample1, latent1, decode1, synth1, encode1 = fns
    col = gen._period_col  # noqa: SLF001
    out = []
    for i, y in enumerate(labels):
        k = jax.random.fold_in(key, i)
        k1, k2, k_rest = jax.random.split(k, 3)
        y = jnp.int32(y)
        phys = sample1(consts, k1, y, jnp.float32(b))
        z = latent1(consts, k2, phys, y)
        tmpl = decode1(consts, z, y, phys)[0] if decode else templates[i]
        for r in range(repeats):
            k3, k4 = jax.random.split(jax.random.fold_in(k_rest, r))
            syn = synth1(consts, k3, tmpl, phys[0, col], y)
            x, valid = encode1(syn.time, syn.mag, syn.mask, k4)
            out.append(np.asarray(x))  # the original moved every curve to the host
    return out


def _counts(n: int, k: int):
    import numpy as np

    counts = np.full(k, n // k)
    counts[: n - counts.sum()] += 1
    return counts


def full_chain(gen, key, sizes, n_loop: int, b: float, repeats: int) -> tuple[list, dict]:
    """Metrics of `generate` (each size = output curves) against the per-curve loop, R light curves
    per decoded template; n_loop output curves in the loop."""
    import numpy as np

    K, R = len(gen.classes), repeats
    metrics, rates = [], {}
    for n in sizes:
        counts = _counts(max(n // R, 1), K)
        cap = int(counts.sum())  # exactly the requested templates (a run fixes its capacity once)
        t = benchlib.time_call(lambda: gen.generate(key, counts, b, capacity=cap, repeats=R).x_NL2, repeats=3,
                               warmup=1)
        rates[n] = int(counts.sum()) * R / t["best_s"]
        metrics.append(benchlib.metric(f"generate N={n}, R={R}", rates[n], "curves/s", compile_s=t["first_s"]))
    labels = np.arange(max(n_loop // R, K)) % K
    per_curve_loop(gen, key, labels[:K], b, repeats=min(R, 2))  # compile the single-curve functions
    t_loop = time.perf_counter()
    per_curve_loop(gen, key, labels, b, repeats=R)
    loop_rate = len(labels) * R / (time.perf_counter() - t_loop)
    metrics.append(benchlib.metric(f"per-curve loop, R={R} ({len(labels) * R} curves)", loop_rate, "curves/s"))
    best = max(rates.values())
    metrics.append(benchlib.metric(f"speed-up, full chain R={R} (best generate / loop)", best / loop_rate, "x"))
    return metrics, {"rates": rates, "loop_rate": loop_rate, "speedup": best / loop_rate}


def main() -> None:
    parser = benchlib.parse_common(argparse.ArgumentParser(description=__doc__.splitlines()[0]), "synth")
    parser.add_argument("--sizes", default=None, help="comma-separated batch sizes for generate")
    parser.add_argument("--loop", type=int, default=None, help="curves in the per-curve loop baseline")
    parser.add_argument("--stars", type=int, default=None, help="training stars of the simulated survey")
    parser.add_argument("--b", type=float, default=0.8, help="prior temperature")
    parser.add_argument("--repeats", type=int, default=10,
                        help="light curves per decoded template for the second measurement (n_oversampling)")
    args = parser.parse_args()
    sizes = [int(s) for s in (args.sizes or ("64,256" if args.quick else "64,256,1024,4096")).split(",")]
    n_loop = args.loop or (16 if args.quick else 64)
    n_stars = args.stars or (200 if args.quick else 1000)

    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxpelsvae.simulate import simulate_survey

    t0 = time.perf_counter()
    classes = ("CEP", "DSCT", "ECL", "LPV", "RRLYR")
    lcs = simulate_survey({c: n_stars // len(classes) for c in classes}, cadence="ogle", seed=0)
    gen = benchlib.make_generator(lcs, full_size=True, capacity_multiple=64)
    fit_s = time.perf_counter() - t0
    print(f"generator fitted on {len(lcs)} simulated stars in {fit_s:.1f} s; donor cadence length "
          f"{gen.bank_host.mask_DT.shape[1]}; backend {jax.default_backend()}")

    extra = {"sizes": sizes, "n_loop": n_loop, "n_stars": len(lcs), "fit_s": fit_s,
             "donor_T": int(gen.bank_host.mask_DT.shape[1]), "b": args.b, "repeats": args.repeats}
    K = len(gen.classes)
    key = jax.random.key(0)
    metrics, one = full_chain(gen, key, sizes, n_loop, args.b, 1)
    extra.update(rates=one["rates"], loop_rate=one["loop_rate"])
    labels = np.arange(n_loop) % K
    if args.repeats > 1:
        more, rep = full_chain(gen, key, sizes, n_loop * 2, args.b, args.repeats)
        metrics += more
        extra.update(rates_repeats=rep["rates"], loop_rate_repeats=rep["loop_rate"])

    # The decoder's FLOPs (~0.15 GFLOP a curve for the full-size TCN) bound both paths on a CPU;
    # time the rest of the chain (sampling, latent, reverse fold, encode) and the decoder apart.
    n_big = max(sizes)
    counts = _counts(n_big, K)
    tmpl = jax.random.uniform(jax.random.key(1), (n_big, gen._phase_cycles_G.shape[0]))  # noqa: SLF001
    rest = batched_without_decoder(gen, n_big)
    consts = gen._consts()  # noqa: SLF001
    t = benchlib.time_call(lambda: rest(consts, key, jnp.asarray(counts), jnp.float32(args.b), tmpl), repeats=3)
    rest_rate = n_big / t["best_s"]
    tmpl_np = np.asarray(tmpl)
    per_curve_loop(gen, key, labels[:K], args.b, decode=False, templates=tmpl_np)
    t_loop = time.perf_counter()
    per_curve_loop(gen, key, labels, args.b, decode=False, templates=tmpl_np)
    rest_loop_rate = n_loop / (time.perf_counter() - t_loop)
    metrics.append(benchlib.metric(f"chain without decoder, batched N={n_big}", rest_rate, "curves/s"))
    metrics.append(benchlib.metric("chain without decoder, per-curve loop", rest_loop_rate, "curves/s"))
    metrics.append(benchlib.metric("speed-up, chain without decoder", rest_rate / rest_loop_rate, "x"))
    extra.update(rest_rate=rest_rate, rest_loop_rate=rest_loop_rate)
    benchlib.report(args.json, "synth", metrics, quick=args.quick, extra=extra,
                    title=f"Synthesis on {jax.default_backend()} ({len(jax.devices())} device(s))")


if __name__ == "__main__":
    main()
