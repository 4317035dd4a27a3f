"""Reference: Yuyao's 2024 payouts (003) against what the Yuyao baseline implies for 2024.

003: "全年已兑付高企培育库奖励999.5万;省科技型中小企业奖励482.6万;高新技术企业认定奖励6236万元"
(10k yuan). The model's 2024 payments = amount per event x the 2024 events of the fitted
state (first certifications, reserve firm-years, new tech SMEs).

Tolerance +-35%: the per-event amounts are not published for Yuyao (the HTE reward uses
Ningbo city's rules, FACTS.md line 26-27: up to 200k per new HTE, +100k for about 30% above
scale; the reserve reward assumes 50k per firm-year), payments lag certification by months
and may include renewals. The provincial tech-SME reward amount was read from this payout,
so that line only checks the bookkeeping (tight tolerance), not the model.
"""

import numpy as np
import pytest


def paid_2024(res, *levers):
    y = res.year_index(2024)
    return float(np.median(sum(res.sim("baseline").costs[lv][y] for lv in levers)))


def test_yuyao_2024_payouts(yuyao_results):
    assert yuyao_results.T == 2024
    hte = paid_2024(yuyao_results, "ningbo_new_hte_reward", "ningbo_above_scale_bonus")
    assert hte == pytest.approx(6236, rel=0.35)
    reserve = paid_2024(yuyao_results, "yuyao_reserve_reward")
    assert reserve == pytest.approx(999.5, rel=0.35 * 2)   # reserve size is prior-dominated: wider
    sme = paid_2024(yuyao_results, "yuyao_prov_sme_reward")
    assert sme == pytest.approx(482.6, rel=0.10)
