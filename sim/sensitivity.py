"""Sensitivity of the headline probabilities to the assumptions (METHODS.md s.7, V4).

Variants, each refitted and re-projected on the same seed:
* ``priors_x0.5`` / ``priors_x2``: every rate prior's sd (on its unconstrained scale)
  halved / doubled;
* every alternative definition the structure file declares under ``[variants]`` (an
  indicator read another way, e.g. published counts that exclude or include a tier).
A target whose P(met) moves by more than 0.10 under any variant is flagged
``assumption_sensitive``, naming the variants.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from .calibrate import fit
from .project import project

THRESHOLD = 0.10


def variants(sc):
    """(name, scenario variant, prior scale) for every assumption that is varied."""
    st = sc.structure
    out = [("priors_x0.5", sc, 0.5), ("priors_x2", sc, 2.0)]
    for v in st.variants:
        out.append((v.name, dataclasses.replace(sc, structure=st.with_variant(v)), 1.0))
    return out


def sensitivity(sc, base_targets: pd.DataFrame, n_paths: int, seed: int | None = None) -> pd.DataFrame:
    """``base_targets`` with one p_met column per variant and the ``assumption_sensitive`` flag."""
    out = base_targets.copy()
    moved = [[] for _ in range(len(out))]
    for name, sc_v, scale in variants(sc):
        cal = fit(sc_v, seed=seed, prior_scale=scale)
        tf = project(sc_v, cal, n_paths=n_paths, seed=seed).targets_frame()
        key = ["unit", "scenario", "indicator", "year"]
        merged = out[key].merge(tf[key + ["p_met"]], on=key, how="left")
        out[f"p_met_{name}"] = merged.p_met.to_numpy()
        for i, (a, b) in enumerate(zip(out.p_met, merged.p_met)):
            if abs(a - b) > THRESHOLD:
                moved[i].append(name)
    out["assumption_sensitive"] = [";".join(m) for m in moved]
    return out
