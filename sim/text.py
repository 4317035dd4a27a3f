"""Every user-facing string of the terminal, the figures and the meeting pack, in Chinese and
English, and the number formats they use: one catalogue, so a zh run is Chinese throughout and
a wording is changed in one place.

``tr(key, lang, **fields)`` formats a message; ``num``, ``pct``, ``money``, ``per_money`` format
numbers the same way everywhere (firms as whole numbers with thousands separators, money in
万元 in Chinese and in k/million yuan in English, probabilities in whole percent that never
show a false 0% or 100%).
"""

from __future__ import annotations

import math
import re
import unicodedata

LANGS = ("zh", "en")

M: dict[str, dict[str, str]] = {
    # ---- common words and units -------------------------------------------------------
    "sep": {"zh": "：", "en": ": "},
    "comma": {"zh": "、", "en": ", "},
    "year": {"zh": "年份", "en": "Year"},
    "firms": {"zh": "企业数（家）", "en": "Firms"},
    "firms_unit": {"zh": "家", "en": "firms"},
    "actual": {"zh": "已公布实际值", "en": "Published actual"},
    "target": {"zh": "规划目标", "en": "Plan target"},
    "median": {"zh": "中位数", "en": "Median"},
    "band80": {"zh": "80%区间", "en": "80% interval"},
    "band90": {"zh": "90%区间", "en": "90% interval"},
    "band50": {"zh": "50%区间", "en": "50% interval"},
    "start_assumed": {"zh": "起点为假设（80%范围）", "en": "Assumed start (80% range)"},
    "p_met": {"zh": "达成概率（%）", "en": "P(target met), %"},
    "cost": {"zh": "财政支出（万元）", "en": "Cost (10k yuan)"},
    "interval_note": {"zh": "图表均为中位数与80%区间", "en": "Figures and tables show medians and 80% intervals"},
    "baseline_short": {"zh": "现行政策", "en": "current policy"},
    "none": {"zh": "无", "en": "none"},
    "yes": {"zh": "是", "en": "yes"},
    "no": {"zh": "否", "en": "no"},
    # ---- terminal -----------------------------------------------------------------------
    "term_title": {"zh": "{unit}：{year}年{ind}目标{target}家", "en": "{unit}: {ind} target {target} in {year}"},
    "term_head_scenario": {"zh": "方案", "en": "Scenario"},
    "term_head_p": {"zh": "概率", "en": "P(met)"},
    "term_head_median": {"zh": "中位数", "en": "median"},
    "term_head_extra": {"zh": "多增（家）", "en": "extra firms"},
    "term_head_cost": {"zh": "每家（万元）", "en": "10k yuan/firm"},
    "term_vs_base": {"zh": "较现行政策", "en": "vs current policy"},
    "term_cal_ok": {"zh": "校准：{how}，{n}个实际值，已收敛（R̂≤1.01，有效样本≥400）。",
                    "en": "Calibration: {how}, {n} actuals, converged (R-hat <= 1.01, ESS >= 400)."},
    "term_cal_warn": {"zh": "初步结果：拟合尚未收敛（{problem}）。校准：{how}，{n}个实际值；会前请先运行 sim calibrate。",
                      "en": "Preliminary: the fit has not converged ({problem}). Calibration: {how}, {n} actuals; "
                            "run 'sim calibrate' before the meeting."},
    "term_cal_reused": {"zh": "沿用已缓存的拟合", "en": "reused the cached fit"},
    "term_cal_fitted": {"zh": "新拟合", "en": "fitted now"},
    "term_cal_rhat": {"zh": "R̂最大{x}", "en": "split R-hat up to {x}"},
    "term_cal_ess": {"zh": "最少有效样本{x}", "en": "minimum ESS {x}"},
    "term_wrote": {"zh": "已写入 {path}（{files}）", "en": "wrote {path} ({files})"},
    "term_more": {"zh": "加 -v 显示每个目标、每个方案和校准提示。", "en": "Add -v for every target, every scenario and the "
                  "calibration notes."},
    "term_settled": {"zh": "[{pol}] {unit} {year}年{ind} 目标{target}：{phrase}",
                     "en": "[{pol}] {unit} {ind} {year} target {target}: {phrase}"},
    "term_settled_short": {"zh": "已公布：{unit} {year}年{ind} 目标{target}：{phrase}",
                           "en": "Published: {unit} {ind} {year} target {target}: {phrase}"},
    "term_settled_more": {"zh": "另有{n}个目标已有实际值（加 -v 查看）。", "en": "{n} more targets already have an actual (-v)."},
    "term_line": {"zh": "[{pol}] {unit} {year}年{ind} 目标{target}：达成概率 {p}（±{se}），中位数 {median}{caveats}",
                  "en": "[{pol}] {unit} {ind} {year} target {target}: P(met) = {p} (+-{se}), median {median}{caveats}"},
    "term_dep": {"zh": "；取决于先验为主的参数：{x}", "en": "; depends on prior-dominated: {x}"},
    "term_sens": {"zh": "；对假设敏感：{x}", "en": "; assumption-sensitive: {x}"},
    "term_notes": {"zh": "校准提示：", "en": "Calibration notes:"},
    "stage_fit": {"zh": "校准", "en": "Calibrating"},
    "stage_project": {"zh": "模拟各方案", "en": "Projecting"},
    "stage_figures": {"zh": "绘图", "en": "Figures"},
    "stage_pack": {"zh": "生成报告", "en": "Meeting pack"},
    "stage_goal": {"zh": "反推目标", "en": "Goal search"},
    "stage_backtest": {"zh": "回溯检验", "en": "Backtest"},
    "cal_head": {"zh": "校准：{how} {key}（{chains}条链×{steps}步；R̂最大{rhat}，最少有效样本{ess}）",
                 "en": "calibration: {how} {key} ({chains} chains x {steps} steps; split R-hat up to {rhat}, "
                       "minimum ESS {ess})"},
    "cal_reused": {"zh": "沿用已缓存的拟合", "en": "reused the cached fit"},
    "cal_cached": {"zh": "已拟合并缓存为", "en": "fitted; cached as"},
    "cal_note": {"zh": "校准提示：{x}", "en": "calibration: {x}"},
    "cal_cols": {"zh": "参数|先验90%|后验90%|方差收缩|由数据确定的程度", "en": "parameter|prior 90%|posterior 90%|contraction|label"},
    "cal_wrote": {"zh": "已写入 {path}", "en": "wrote {path}"},
    # ---- calibration notes (codes from the notes' wording) --------------------------------
    "note_optimiser": {"zh": "优化器提前停止，由抽样修正。", "en": "The optimiser stopped early; the sampler corrects it."},
    "note_hessian": {"zh": "部分方向的曲率不正定，已按先验精度的四分之一处理。",
                     "en": "The curvature was not positive in some directions; floored at a quarter of the prior precision."},
    "note_rhat": {"zh": "初步结果：拟合尚未收敛（R̂最大{x}，需≤1.01）。",
                  "en": "Preliminary: the fit has not converged (split R-hat up to {x}; needed <= 1.01)."},
    "note_ess": {"zh": "有效样本偏少（最少{x}），区间较粗。", "en": "Few effective draws (minimum {x}); intervals are rougher."},
    "note_laplace_ok": {"zh": "正态近似与抽样结果一致。", "en": "The normal approximation agreed with the sampler."},
    "note_laplace_bad": {"zh": "正态近似与抽样结果不一致，采用抽样结果。",
                         "en": "The normal approximation disagreed with the sampler; the sampler's answer is used."},
    "note_prior_only": {"zh": "{x}没有实际值：后验即先验（仅按先验预测）。",
                        "en": "No actuals for {x}: the posterior is the prior (prior-only projection)."},
    "note_borrowed": {"zh": "{x}没有已公布实际值：起始水平来自各区县的比例层级模型（及规划基期数），转移率借自{y}。",
                      "en": "No actuals for {x}: its start levels come from the hierarchy of the districts' ratios (and its "
                            "plan base), its rates are borrowed from {y}."},
    "note_other": {"zh": "其他校准提示（见英文版报告）。", "en": "{x}"},
    # ---- headline sentences ----------------------------------------------------------------
    "hl_none": {"zh": "本次运行没有可评估的规划目标。", "en": "This run has no plan target to score."},
    "hl_base": {"zh": "按{pol}，{year}年{unit}{ind}达到{target}家的概率约为{p}（中位数{median}家，80%区间{lo}–{hi}家）。",
                "en": "Under '{pol}', the probability that {unit} reaches {target} {ind} in {year} is about {p} "
                      "(median {median}, 80% interval {lo}–{hi})."},
    "hl_dep": {"zh": "该概率取决于主要由先验假设确定的参数：{x}。", "en": " It depends on prior-dominated rates: {x}."},
    "hl_sens": {"zh": "该概率对假设敏感（{x}）。", "en": " It is assumption-sensitive ({x})."},
    "hl_gap": {"zh": "要达到目标，还差约{gap}家（按中位数）；各方案中最多的是“{best}”，中位数{median}家，概率约为{p}。",
               "en": "The median falls short by about {gap} firms; the best scenario, '{best}', reaches a median of "
                     "{median} ({p})."},
    "hl_reach": {"zh": "“{best}”使达成概率最高，约为{p}（中位数{median}家）。",
                 "en": "'{best}' gives the highest probability, about {p} (median {median})."},
    "hl_lever": {"zh": "按每万元效果，最划算的是“{best}”：比现行政策多{extra}家（中位数），每多一家约{cost}（80%区间{range}），"
                       "即每100万元多{per}家。",
                 "en": "Per yuan, '{best}' does most: {extra} more firms than current policy (median), about {cost} per "
                       "extra firm (80% interval {range}), {per} more firms per 1 million yuan."},
    "range": {"zh": "{lo}–{hi}", "en": "{lo}–{hi}"},
    "range_open": {"zh": "{lo}以上", "en": "{lo} or more"},
    "hl_lever_none": {"zh": "没有一个方案能以正的额外支出稳定地多增企业。",
                      "en": "No scenario adds firms reliably for extra money."},
    "hl_assumed": {"zh": "政策效果强度是假设（范围见“假设与说明”）：取假设范围低端时{low}，取高端时{high}；{verdict}",
                   "en": "Lever effect sizes are assumptions (ranges under 'Assumptions and caveats'): at the low end of "
                         "those ranges {low}, at the high end {high}; {verdict}"},
    "order_is": {"zh": "排序为{x}", "en": "the order is {x}"},
    "hl_assumed_same": {"zh": "排名第一的方案不变。", "en": "the first place does not change."},
    "hl_assumed_differs": {"zh": "排名第一的方案取决于这一假设。", "en": "which scenario comes first depends on this assumption."},
    "hl_assumed_none": {"zh": "这些方案的效果不依赖效果强度假设。", "en": "these scenarios do not rest on an assumed effect size."},
    "hl_goal": {"zh": "达成目标需要什么：{x}", "en": "What it would take: {x}"},
    "hl_hardest": {"zh": "现行政策下最难实现的其他目标：{year}年{ind}{target}家，概率约为{p}（中位数{median}家）。",
                   "en": "The hardest other target under current policy: {ind} {target} in {year}, about {p} "
                         "(median {median})."},
    "hl_rates": {"zh": "{n}个转移率中，{data}个主要由已公布数据确定，{prior}个主要取决于先验假设（见“假设与说明”）。",
                 "en": "Of {n} transition rates, {data} are pinned down by published data and {prior} rest mainly on "
                       "prior assumptions (see 'Assumptions and caveats')."},
    "order_none": {"zh": "没有方案能多增企业", "en": "no scenario adds firms"},
    # ---- report sections -------------------------------------------------------------------
    "title": {"zh": "科技企业培育目标测算报告", "en": "Science & technology enterprise targets: meeting pack"},
    "sec_answer": {"zh": "结论", "en": "The answer"},
    "sec_key": {"zh": "关键目标与方案", "en": "Key targets by scenario"},
    "sec_lever": {"zh": "哪项政策每万元效果最好", "en": "Which lever per yuan"},
    "sec_goal": {"zh": "达成目标需要什么", "en": "What it would take"},
    "sec_evidence": {"zh": "依据", "en": "The evidence"},
    "sec_fans": {"zh": "预测（中位数与80%区间）", "en": "Projections (median and 80% interval)"},
    "sec_pipeline": {"zh": "企业梯队与流量", "en": "The pipeline: tiers and flows"},
    "sec_costs": {"zh": "财政成本", "en": "Costs"},
    "sec_subunits": {"zh": "分区进度", "en": "Sub-unit status"},
    "sec_sensitivity": {"zh": "变动分解与敏感性", "en": "Components of change and sensitivity"},
    "sec_appendix": {"zh": "附录", "en": "Appendix"},
    "sec_tables": {"zh": "全部目标", "en": "Every target"},
    "sec_calibration": {"zh": "校准", "en": "Calibration"},
    "sec_assumptions": {"zh": "假设与说明", "en": "Assumptions and caveats"},
    "sec_sources": {"zh": "数据来源", "en": "Data sources"},
    "sec_run": {"zh": "运行信息", "en": "Run"},
    "no_goal": {"zh": "本次运行未做目标反推；运行 sim goal 并用 sim report --goal 加入，可得到达到目标所需的政策组合。",
                "en": "No goal search in this run; 'sim goal' and 'sim report --goal' add what it would take."},
    "run_info": {"zh": "随机种子{seed}，模拟路径{paths}条，程序版本{version}；输入文件校验值：{inputs}",
                 "en": "seed {seed}, {paths} paths, sim {version}; input checksums: {inputs}"},
    "status_on": {"zh": "达标", "en": "on track"},
    "status_behind": {"zh": "落后", "en": "behind"},
    "status_flag": {"zh": "{status}（概率{p}）", "en": "{status} (P {p})"},
    "cal_counts": {"zh": "{n}个实际值；{chains}条链×{steps}步；R̂最大{rhat}，最少有效样本{ess}。",
                   "en": "{n} actuals; {chains} chains x {steps} steps; split R-hat up to {rhat}, minimum ESS {ess}."},
    # ---- assumptions -----------------------------------------------------------------------
    "as_rate": {"zh": "{name}：主要取决于先验，后验90%区间{lo}–{hi}。", "en": "{name}: prior-dominated, posterior 90% "
                "interval {lo}–{hi}; {source}"},
    "as_lever": {"zh": "{name}：效果强度为假设，在{lo}至{hi}之间（{scale}尺度）均匀抽取；原文：“{passage}”",
                 "en": "{name}: effect strength an assumption, drawn uniformly from {lo} to {hi} ({scale} scale): "
                       "{source}; {cost}"},
    "as_lever_nopassage": {"zh": "{name}：效果强度为假设，在{lo}至{hi}之间（{scale}尺度）均匀抽取。",
                           "en": "{name}: effect strength an assumption, drawn uniformly from {lo} to {hi} ({scale} "
                                 "scale): {source}; {cost}"},
    "as_pool": {"zh": "与{units}合并估计：{rates}部分共享（tau={tau}），其余转移率完全共享。",
                "en": "Rates pooled with {units}: {rates} partially pooled (tau = {tau}), the other rates shared; {source}"},
    "as_not_scored": {"zh": "{unit}{year}年{ind}：{value}，未评估（{why}）", "en": "{unit} {ind} {year} = {value}: not scored ({why})"},
    "param_noise": {"zh": "报告噪声尺度", "en": "Reporting-noise scale"},
    "param_offset": {"zh": "{unit}：{rate}偏移", "en": "{unit}: offset of {rate}"},
    "param_start": {"zh": "{unit}：起始{what}", "en": "{unit}: start {what}"},
    "var_priors_x0.5": {"zh": "先验宽度减半", "en": "priors x0.5"},
    "var_priors_x2": {"zh": "先验宽度加倍", "en": "priors x2"},
    "why_not_modelled": {"zh": "模型不含该指标", "en": "indicator not modelled"},
    "why_start": {"zh": "不晚于起始年份{x}", "en": "at or before the start year {x}"},
    "why_horizon": {"zh": "晚于预测终点{x}", "en": "after the horizon {x}"},
    "scale_logit": {"zh": "logit", "en": "logit"},
    "kind_actual": {"zh": "实际值", "en": "actual"},
    "kind_target": {"zh": "目标", "en": "target"},
    "kind_derived": {"zh": "推算值", "en": "derived"},
    # ---- figures ---------------------------------------------------------------------------
    "fig_p_title": {"zh": "{unit}：各方案达成目标的概率", "en": "{unit}: probability of meeting each target"},
    "fig_p_x": {"zh": "达成概率（%）", "en": "Probability of meeting the target (%)"},
    "fig_cost_extra_title": {"zh": "{unit}：多支出与多增{ind}（至{year}年，较现行政策）",
                             "en": "{unit}: extra cost and extra {ind} by {year}, vs current policy"},
    "fig_cost_extra_x": {"zh": "累计多支出（万元）", "en": "Extra cost to the target year (10k yuan)"},
    "fig_cost_extra_y": {"zh": "多增企业（家，中位数与80%区间）", "en": "Extra firms (median, 80% interval)"},
    "fig_cost_p_title": {"zh": "成本与达成概率：{unit}{year}年{ind}≥{target}",
                         "en": "Cost vs probability: {ind} >= {target} in {year}"},
    "fig_cost_total": {"zh": "财政支出（万元），至{year}年累计", "en": "Cost (10k yuan), total to {year}"},
    "fig_wf_title": {"zh": "{unit}{ind}变动分解 {T}→{year}（柱为均值；◆为中位数及80%区间；虚线为目标{target}）",
                     "en": "{unit}: change in {ind} {T} to {year} (bars: means; ◆: median and 80% interval; "
                           "dashed line: target {target})"},
    "wf_start": {"zh": "起点", "en": "Start"},
    "wf_end": {"zh": "终点", "en": "End"},
    "fig_tornado_title": {"zh": "敏感性：{pol}", "en": "Sensitivity: {pol}"},
    "fig_tornado_legend_lo": {"zh": "因素处于低10%", "en": "factor in its bottom 10%"},
    "fig_tornado_legend_hi": {"zh": "因素处于高10%", "en": "factor in its top 10%"},
    "fig_tornado_x": {"zh": "{year}年{ind}（中位数）", "en": "{ind} in {year} (median)"},
    "fig_tornado_lever": {"zh": "政策效果：{x}", "en": "lever effect: {x}"},
    "fig_tornado_start": {"zh": "起始{ind}数", "en": "Start level of {ind}"},
    "fig_sub_title": {"zh": "{unit}各分区{ind}：{pol}（中位数与80%区间，×为年度目标）",
                      "en": "{unit} sub-units, {ind}: {pol} (median, 80% interval; x = yearly target)"},
    "fig_pipe_title": {"zh": "{unit}企业梯队：{pol}", "en": "{unit}, the pipeline: {pol}"},
    "fig_pipe_stocks": {"zh": "各梯队存量（家，均值）", "en": "Stock by tier (firms, mean)"},
    "fig_pipe_flows": {"zh": "年均流量 {a}–{b}（家/年，均值）", "en": "Yearly flows {a}–{b} (firms a year, mean)"},
    "fig_pipe_gain": {"zh": "流入/晋升", "en": "in / up"},
    "fig_pipe_loss": {"zh": "流失", "en": "lost"},
    "fig_pipe_lever": {"zh": "◆ 本方案调整的政策作用于此", "en": "◆ a lever this scenario changes acts here"},
    "fig_pipe_hist": {"zh": "已公布：{ind}", "en": "Published: {ind}"},
    "fig_rank_title": {"zh": "{unit}：每多一家{ind}的成本（万元，中位数与80%区间）",
                       "en": "{unit}: cost per extra {ind} (10k yuan, median and 80% interval)"},
    "fig_rank_x": {"zh": "每多一家的成本（万元）", "en": "Cost per extra firm (10k yuan)"},
    "fig_rank_open": {"zh": "区间上端无界（可能不增加）", "en": "open upper end (may add none)"},
    "fig_rank_none": {"zh": "不增加企业或不多花钱", "en": "adds no firms or costs no more"},
    "fig_goal_prob": {"zh": "要求的概率{p}", "en": "required probability {p}"},
    "fig_backtest": {"zh": "回溯检验", "en": "Backtest"},
    "fig_bt_used": {"zh": "拟合所用实际值", "en": "actuals used"},
    "fig_bt_later": {"zh": "后来公布的实际值", "en": "later actuals"},
    "fig_bt_loglinear": {"zh": "对数线性趋势", "en": "log-linear trend"},
    "fig_bt_growth": {"zh": "区域增速外推", "en": "regional growth"},
    "fig_bt_plan": {"zh": "规划目标路径", "en": "plan's target path"},
    "fig_cal_rates": {"zh": "转移率（年）", "en": "Yearly rates"},
    "fig_cal_starts": {"zh": "起始水平", "en": "Start levels"},
    "fig_cal_offsets": {"zh": "地区偏移（logit/对数尺度）", "en": "District offsets (logit/log scale)"},
    "fig_cal_prior": {"zh": "先验90%区间", "en": "prior 90%"},
    "fig_cal_title": {"zh": "先验与后验", "en": "Prior vs posterior"},
    "fig_fit_band": {"zh": "拟合90%区间", "en": "fit, 90%"},
    "fig_fit_title": {"zh": "拟合值与已公布值", "en": "Fitted vs published"},
    "fig_goal_frontier": {"zh": "成本—概率前沿（核验）", "en": "frontier (certified)"},
    "fig_goal_base": {"zh": "现行方案", "en": "current policy"},
    "fig_goal_plan": {"zh": "最省钱的达标组合", "en": "cheapest plan"},
    "fig_goal_title": {"zh": "{unit}{year}年{ind}≥{target}：成本与概率", "en": "{unit}: {ind} >= {target} in {year}"},
    # ---- xlsx ------------------------------------------------------------------------------
    "sheet_comparison": {"zh": "方案比较", "en": "Comparison"},
    "sheet_ranking": {"zh": "政策性价比", "en": "Lever ranking"},
    "sheet_targets": {"zh": "全部目标", "en": "Targets"},
    "sheet_projection": {"zh": "预测", "en": "Projection"},
    "sheet_tiers": {"zh": "梯队存量", "en": "Tiers"},
    "sheet_flows": {"zh": "流量", "en": "Flows"},
    "sheet_costs": {"zh": "成本", "en": "Costs"},
    "sheet_calibration": {"zh": "校准", "en": "Calibration"},
    "sheet_sources": {"zh": "数据来源", "en": "Sources"},
    "sheet_tornado": {"zh": "敏感性", "en": "Sensitivity"},
    "sheet_goal": {"zh": "目标反推", "en": "Goal"},
}

# Column headers (tables in the report and the xlsx), with units.
COLUMNS: dict[str, dict[str, str]] = {
    "unit": {"zh": "单位", "en": "Unit"},
    "scenario": {"zh": "方案", "en": "Scenario"},
    "indicator": {"zh": "指标", "en": "Indicator"},
    "year": {"zh": "年份", "en": "Year"},
    "target": {"zh": "目标（家）", "en": "Target (firms)"},
    "p_met": {"zh": "达成概率（%）", "en": "P(met) (%)"},
    "mc_se": {"zh": "概率的模拟误差（%）", "en": "Monte Carlo error of P (%)"},
    "median": {"zh": "中位数（家）", "en": "Median (firms)"},
    "mean": {"zh": "均值（家）", "en": "Mean (firms)"},
    "p05": {"zh": "5%分位（家）", "en": "5th pct (firms)"},
    "p10": {"zh": "10%分位（家）", "en": "10th pct (firms)"},
    "p25": {"zh": "25%分位（家）", "en": "25th pct (firms)"},
    "p50": {"zh": "中位数（家）", "en": "Median (firms)"},
    "p75": {"zh": "75%分位（家）", "en": "75th pct (firms)"},
    "p90": {"zh": "90%分位（家）", "en": "90th pct (firms)"},
    "p95": {"zh": "95%分位（家）", "en": "95th pct (firms)"},
    "tier": {"zh": "梯队", "en": "Tier"},
    "flow": {"zh": "流量", "en": "Flow"},
    "lever": {"zh": "政策", "en": "Lever"},
    "levers": {"zh": "调整的政策", "en": "Levers changed"},
    "single_lever": {"zh": "单项政策", "en": "Single lever"},
    "gap": {"zh": "中位数与目标之差（家）", "en": "Median minus target (firms)"},
    "extra_vs_baseline_p50": {"zh": "较现行政策多增（中位数，家）", "en": "Extra vs current policy (median, firms)"},
    "extra_vs_baseline_p10": {"zh": "多增10%分位（家）", "en": "Extra, 10th pct (firms)"},
    "extra_vs_baseline_p90": {"zh": "多增90%分位（家）", "en": "Extra, 90th pct (firms)"},
    "extra_cost_mean_10k_yuan": {"zh": "累计多支出（均值，万元）", "en": "Extra cost (mean, 10k yuan)"},
    "cost_to_year_p50_10k_yuan": {"zh": "累计成本（中位数，万元）", "en": "Total cost (median, 10k yuan)"},
    "cost_per_extra_unit_10k_yuan": {"zh": "每多一家成本（万元）", "en": "Cost per extra firm (10k yuan)"},
    "extra_p50": {"zh": "多增（中位数，家）", "en": "Extra firms (median)"},
    "extra_p10": {"zh": "多增10%分位（家）", "en": "Extra firms, 10th pct"},
    "extra_p90": {"zh": "多增90%分位（家）", "en": "Extra firms, 90th pct"},
    "cost_per_extra_p50_10k_yuan": {"zh": "每多一家成本（中位数，万元）", "en": "Cost per extra firm (median, 10k yuan)"},
    "cost_per_extra_p10_10k_yuan": {"zh": "每多一家成本10%分位（万元）", "en": "Cost per extra firm, 10th pct (10k yuan)"},
    "cost_per_extra_p90_10k_yuan": {"zh": "每多一家成本90%分位（万元）", "en": "Cost per extra firm, 90th pct (10k yuan)"},
    "per_100wan_p50": {"zh": "每100万元多增（中位数，家）", "en": "Extra firms per 1m yuan (median)"},
    "per_100wan_p10": {"zh": "每100万元多增10%分位（家）", "en": "Extra firms per 1m yuan, 10th pct"},
    "per_100wan_p90": {"zh": "每100万元多增90%分位（家）", "en": "Extra firms per 1m yuan, 90th pct"},
    "cost_per_extra_low_10k_yuan": {"zh": "效果取低端时每家成本（万元）", "en": "Cost per firm, weak effects (10k yuan)"},
    "cost_per_extra_high_10k_yuan": {"zh": "效果取高端时每家成本（万元）", "en": "Cost per firm, strong effects (10k yuan)"},
    "rank": {"zh": "排名", "en": "Rank"},
    "rank_low": {"zh": "效果取低端时排名", "en": "Rank, weak effects"},
    "rank_high": {"zh": "效果取高端时排名", "en": "Rank, strong effects"},
    "mean_10k_yuan": {"zh": "均值（万元）", "en": "Mean (10k yuan)"},
    "p10_10k_yuan": {"zh": "10%分位（万元）", "en": "10th pct (10k yuan)"},
    "p50_10k_yuan": {"zh": "中位数（万元）", "en": "Median (10k yuan)"},
    "p90_10k_yuan": {"zh": "90%分位（万元）", "en": "90th pct (10k yuan)"},
    "parameter": {"zh": "参数", "en": "Parameter"},
    "prior_median": {"zh": "先验中位数", "en": "Prior median"},
    "prior_p05": {"zh": "先验5%分位", "en": "Prior 5th pct"},
    "prior_p95": {"zh": "先验95%分位", "en": "Prior 95th pct"},
    "post_mean": {"zh": "后验均值", "en": "Posterior mean"},
    "post_p05": {"zh": "后验5%分位", "en": "Posterior 5th pct"},
    "post_p95": {"zh": "后验95%分位", "en": "Posterior 95th pct"},
    "contraction": {"zh": "方差收缩（占先验方差）", "en": "Contraction (share of prior variance)"},
    "label": {"zh": "由数据确定的程度", "en": "Informed by data"},
    "value": {"zh": "数值（按原文）", "en": "Value (as published)"},
    "kind": {"zh": "类别", "en": "Kind"},
    "source_file": {"zh": "来源文件", "en": "Source file"},
    "passage": {"zh": "原文", "en": "Passage"},
    "definition": {"zh": "口径", "en": "Definition"},
    "status": {"zh": "状态", "en": "Status"},
    "ess_bulk": {"zh": "有效样本数（整体）", "en": "Bulk ESS"},
    "ess_tail": {"zh": "有效样本数（尾部）", "en": "Tail ESS"},
    "actual": {"zh": "已公布实际值（家）", "en": "Published actual (firms)"},
    "actual_bound": {"zh": "实际值性质（确切或下限）", "en": "Actual is (eq exact, ge lower bound)"},
    "factor": {"zh": "因素", "en": "Factor"},
    "outcome_at_p10": {"zh": "因素低10%时中位数（家）", "en": "Median, factor bottom 10% (firms)"},
    "outcome_at_p90": {"zh": "因素高10%时中位数（家）", "en": "Median, factor top 10% (firms)"},
    "outcome_median": {"zh": "中位数（家）", "en": "Median (firms)"},
    "swing": {"zh": "摆幅（家）", "en": "Swing (firms)"},
    "sentence": {"zh": "结论", "en": "Answer"},
    "bound": {"zh": "数值性质（等于/不低于）", "en": "Bound (eq or ge)"},
    "cost_to_year_p10_10k_yuan": {"zh": "累计成本10%分位（万元）", "en": "Total cost, 10th pct (10k yuan)"},
    "cost_to_year_p90_10k_yuan": {"zh": "累计成本90%分位（万元）", "en": "Total cost, 90th pct (10k yuan)"},
    "depends_on_prior_dominated": {"zh": "取决于先验为主的参数", "en": "Depends on prior-dominated rates"},
    "derivation": {"zh": "推算方法", "en": "Derivation"},
    "derived_from": {"zh": "推算依据", "en": "Derived from"},
    "origin": {"zh": "录入来源", "en": "Origin"},
    "prior_source": {"zh": "先验来源", "en": "Prior source"},
    "ess": {"zh": "有效样本数", "en": "Effective sample size"},
    "rhat": {"zh": "收敛诊断R̂", "en": "Split R-hat"},
    "extra_cost_p50_10k_yuan": {"zh": "累计多支出（中位数，万元）", "en": "Extra cost (median, 10k yuan)"},
    "extra_high": {"zh": "效果取高端时多增（家）", "en": "Extra firms, strong effects"},
    "extra_low": {"zh": "效果取低端时多增（家）", "en": "Extra firms, weak effects"},
    "extra_mc_se": {"zh": "多增的模拟误差（家）", "en": "Monte Carlo error of extra (firms)"},
    "extra_mean": {"zh": "多增（均值，家）", "en": "Extra firms (mean)"},
    "extra_vs_baseline_mean": {"zh": "较现行政策多增（均值，家）", "en": "Extra vs current policy (mean, firms)"},
    "factor_p10": {"zh": "因素10%分位", "en": "Factor, 10th pct"},
    "factor_p90": {"zh": "因素90%分位", "en": "Factor, 90th pct"},
    "strength_assumed": {"zh": "效果强度为假设", "en": "Effect size assumed"},
    "assumption_sensitive": {"zh": "对假设敏感", "en": "Assumption-sensitive"},
    "name": {"zh": "名称", "en": "Name"},
    "base": {"zh": "现值", "en": "Current value"},
    "required": {"zh": "所需值", "en": "Required value"},
    "reachable": {"zh": "能否实现", "en": "Reachable"},
    "cost_10k_yuan": {"zh": "累计成本（万元）", "en": "Total cost (10k yuan)"},
    "extra_cost_10k_yuan": {"zh": "较现行政策多支出（万元）", "en": "Extra cost (10k yuan)"},
    "p_certified": {"zh": "核验概率（%）", "en": "Certified P (%)"},
    "p_lo": {"zh": "概率下限（%）", "en": "P, lower (%)"},
    "p_hi": {"zh": "概率上限（%）", "en": "P, upper (%)"},
    "settings": {"zh": "政策设置", "en": "Settings"},
    "se": {"zh": "模拟误差", "en": "Monte Carlo error"},
    "p": {"zh": "概率（%）", "en": "P (%)"},
}

# Free-text columns written in English in the data files: left out of a Chinese workbook.
ENGLISH_TEXT = ("definition", "derivation", "prior_source")

LABEL_WORDS = {"data-informed": {"zh": "数据确定", "en": "data-informed"},
               "partly informed": {"zh": "部分由数据确定", "en": "partly informed"},
               "prior-dominated": {"zh": "主要取决于先验", "en": "prior-dominated"}}


def tr(key: str, lang: str, /, **fields) -> str:
    """The message ``key`` in ``lang`` with ``fields`` filled in."""
    return M[key][lang].format(**fields)


def col(name: str, lang: str, variants: dict | None = None) -> str:
    """A column header with its unit (the column id itself when the catalogue has none);
    ``variants``: the run's declared sensitivity variants ({name: {zh, en}})."""
    if name not in COLUMNS and name.startswith("p_met_"):   # a sensitivity variant's P(met)
        return f"{COLUMNS['p_met'][lang]}{M['sep'][lang]}{variant(name[6:], lang, variants)}"
    return COLUMNS.get(name, {}).get(lang, name)


def num(v: float) -> str:
    """A count of firms: whole number with thousands separators."""
    return f"{v:,.0f}" if isinstance(v, (int, float)) and math.isfinite(v) else "—"


def signed(v: float) -> str:
    return f"{v:+,.0f}" if math.isfinite(v) else "—"


def pct(p: float) -> str:
    """A probability for a sentence: whole percent, but never a false 0% or 100%."""
    if not math.isfinite(p):
        return "—"
    if p < 0.005:
        return "<1%"
    if p > 0.995:
        return ">99%"
    return f"{100 * p:.0f}%"


def money(v: float, lang: str) -> str:
    """An amount of 10k yuan: 万元 in Chinese; k or million yuan in English."""
    if not math.isfinite(v):
        return "—"
    if lang == "zh":
        return f"{v:,.0f}万元"
    return f"{v / 100:,.1f} million yuan" if abs(v) >= 100 else f"{10 * v:,.0f}k yuan"


def decimal(v: float, digits: int = 1) -> str:
    return f"{v:,.{digits}f}" if math.isfinite(v) else "—"


def width(s: str) -> int:
    """Columns a string takes in a terminal (CJK and full-width characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def fit(s: str, w: int) -> str:
    """``s`` cut to ``w`` terminal columns (with an ellipsis) and padded to exactly ``w``."""
    if width(s) > w:
        out = ""
        for c in s:
            if width(out + c) > w - 1:
                break
            out += c
        s = out + "…"
    return s + " " * (w - width(s))


def rfit(s: str, w: int) -> str:
    return " " * max(0, w - width(s)) + s


NOTE_PATTERNS = (  # calibration notes (English, from sim.calibrate) -> catalogue keys
    ("the optimiser stopped early", "note_optimiser"),
    ("the Hessian was not positive", "note_hessian"),
    ("has not converged", "note_rhat"),
    ("effective sample size is low", "note_ess"),
    ("Laplace approximation agreed", "note_laplace_ok"),
    ("Laplace approximation disagreed", "note_laplace_bad"),
    ("the posterior is the prior", "note_prior_only"),
    ("its start levels come from the hierarchy", "note_borrowed"),
)


def note(text: str, lang: str, unit_label=lambda u: u) -> str:
    """A calibration note in ``lang``: the known notes are translated, with their numbers and
    unit names; an unknown note is kept in English in an English run only."""
    for pat, key in NOTE_PATTERNS:
        if pat in text:
            nums = re.findall(r"\d+(?:\.\d+)?", text)
            if key == "note_rhat":
                return tr(key, lang, x=nums[0] if nums else "?")
            if key == "note_ess":
                return tr(key, lang, x=nums[0] if nums else "?")
            if key in ("note_prior_only", "note_borrowed"):
                m = re.search(r"no actuals for ([\w, ]+?):", text)
                units = [u.strip() for u in (m.group(1).split(",") if m else [])]
                m2 = re.search(r"borrowed from ([\w, ]+)", text)
                frm = [u.strip() for u in (m2.group(1).split(",") if m2 else [])]
                sep = M["comma"][lang]
                return tr(key, lang, x=sep.join(unit_label(u) for u in units),
                          y=sep.join(unit_label(u) for u in frm))
            return tr(key, lang)
    return tr("note_other", lang, x=text)


def why(text: str, lang: str) -> str:
    """Why a target is not scored (the reasons sim.scenario gives), in ``lang``."""
    m = re.search(r"\d{4}", text)
    x = m.group(0) if m else ""
    for pat, key in (("not modelled", "why_not_modelled"), ("start year", "why_start"), ("horizon", "why_horizon")):
        if pat in text:
            return tr(key, lang, x=x)
    return text if lang == "en" else ""


def param_label(name: str, rates: dict, units: dict, lang: str, start_words: dict | None = None) -> str:
    """A calibration parameter in words: a rate, a district's offset of a rate, a start level
    (``start_words``: the structure's {lang: {level or share: words}}), or the reporting-noise
    scale (the id itself where nothing better is known)."""
    unit = lambda u: units.get(u, {}).get(lang, u)  # noqa: E731
    if name in rates and rates[name].get(lang) not in (None, "", name):
        return rates[name][lang]
    if name == "noise_scale":
        return tr("param_noise", lang)
    parts = name.split(".")
    if len(parts) == 3 and parts[1] == "offset":
        return tr("param_offset", lang, unit=unit(parts[0]), rate=rates.get(parts[2], {}).get(lang, parts[2]))
    if len(parts) == 2:
        what = (start_words or {}).get(lang, {}).get(parts[1], parts[1])
        return tr("param_start", lang, unit=unit(parts[0]), what=what)
    return name


def variant(name: str, lang: str, declared: dict | None = None) -> str:
    """A sensitivity variant (sim.sensitivity) in words: the prior scalings from this
    catalogue, the alternative definitions from the structure file (``declared``)."""
    if name in (declared or {}):
        return declared[name][lang]
    return M.get(f"var_{name}", {}).get(lang, name)
