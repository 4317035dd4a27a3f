"""Builds calibration/ledger.csv and calibration/units.csv from the passages below.

Kept in the repository so every ledger row can be traced to the line that wrote it; run
``python tools/build_ledger.py`` after editing. Planners may instead edit the CSV directly.
"""
import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
S0, S1, S2, S3, S4 = (f"seeds/{n}" for n in (
    "000_43b24a2406627955.txt", "001_dce8f05e816c6584.txt", "002_8932685789ee55e5.txt",
    "003_744ecaa8d89d5a2d.txt", "004_8f1827e1ee0d850e.txt"))

UNITS = [
    ("cixi", "", "慈溪市（全市）", "Cixi (whole city)"),
    ("cixi_city", "cixi", "慈溪市（市级）", "Cixi (city level)"),
    ("qianwan", "cixi", "前湾新区", "Qianwan New Area"),
    ("zhenhai", "", "镇海区", "Zhenhai"),
    ("yuyao", "", "余姚市", "Yuyao"),
    ("jiangbei", "", "江北区", "Jiangbei"),
    ("jb_waitan", "jiangbei", "外滩街道", "Waitan"),
    ("jb_wenjiao", "jiangbei", "文教街道", "Wenjiao"),
    ("jb_kongpu", "jiangbei", "孔浦街道", "Kongpu"),
    ("jb_yongjiang", "jiangbei", "甬江街道", "Yongjiang"),
    ("jb_zhuangqiao", "jiangbei", "庄桥街道", "Zhuangqiao"),
    ("jb_hongtang", "jiangbei", "洪塘街道", "Hongtang"),
    ("jb_qianjiang", "jiangbei", "前江街道", "Qianjiang"),
    ("jb_xinxing", "jiangbei", "区新兴产业服务中心", "Emerging Industry Centre"),
    ("jb_cicheng", "jiangbei", "慈城镇", "Cicheng"),
    ("jb_hitech", "jiangbei", "江北高新园区", "Jiangbei High-Tech Park"),
    ("jb_qianyang", "jiangbei", "前洋经济开发区", "Qianyang Development Zone"),
]

rows = []


def add(unit, indicator, year, value, kind, definition, src, passage, derived_from="", derivation=""):
    rows.append(dict(unit=unit, indicator=indicator, year=year, value=value, kind=kind,
                     derived_from=derived_from, definition=definition, source_file=src, passage=passage,
                     derivation=derivation))


# ---- Cixi 2022-2025 plan (000): scope is the city level (市级), see FACTS.md "Definitions"
P = "到2025年，形成以高新技术培育企业、宁波（省）及国家科技型中小企业、高新技术企业、科技独角兽企业为主体的科技型企业培育梯队，全市科技型企业数量实现倍增，各级科技型中小企业数量达到3100家，高新技术企业达到1250家"
scope = "city-level scope (市级): 1,250 equals the 市级 row of the 2026 plan table for 2025 (FACTS.md: Cixi statistics use the 市级 scope)"
add("cixi_city", "tech_sme", 2025, 3100, "target", "各级科技型中小企业 (all levels), stock; " + scope, S0, P)
add("cixi_city", "hte_valid", 2025, 1250, "target", "高新技术企业 (valid stock); " + scope, S0, P)
P = "每年动态筛选认定20家左右产业领域新、研发强度高、技术专利多、复合增长快的企业，作为“科技独角兽”进行培育。按每家每年3万元的额度安排经费"
for y in (2023, 2024, 2025):
    add("cixi_city", "unicorn_intake", y, 20, "target", "科技独角兽 selected per year (about 20); not a modelled tier", S0, P)
add("cixi_city", "listing_reserve", 2025, 5, "target", "firms in the Ningbo STAR-market listing reserve; not modelled", S0,
    "争取到2025年，入库企业整体科技实力显著提升，研发投入、产销规模实现倍增，5家以上企业进入宁波科创板拟上市企业储备库")

# ---- Cixi plan to 2026 (001): year-by-year target table
years = (2022, 2023, 2024, 2025, 2026)
for unit, label, vals in (("cixi", "有效高新技术 企业（家） 全市", (815, 1000, 1200, 1550, 1750)),
                          ("cixi_city", "市级", (660, 800, 950, 1250, 1400)),
                          ("qianwan", "前湾", (155, 200, 250, 300, 350))):
    passage = label + " " + " ".join(map(str, vals))
    for y, v in zip(years, vals):
        add(unit, "hte_valid", y, v, "target", "有效高新技术企业 (valid, year-end stock); plan table 争创科技创新鼎核心指标分解表", S1, passage)
for unit, label, v in (("cixi", "全市", 450), ("cixi_city", "市级", 400), ("qianwan", "前湾", 50)):
    for y in years:
        add(unit, "tech_sme_new", y, v, "target", "新增科技型中小企业 per year (年新增)", S1, f"{label} 年新增{v}家")
P = "至2026年，全市有效高新技术企业数达1750家，科技型中小企业达4000家"
add("cixi", "tech_sme", 2026, 4000, "target", "科技型中小企业, whole city, stock", S1, P)
P = "其中市级有效高新技术企业数达1400家，科技型中小企业数达3500家"
add("cixi_city", "tech_sme", 2026, 3500, "target", "科技型中小企业, city level, stock", S1, P)
P1 = "力争到2026年，科技型中小企业达到4000家，每千家企业中科技型中小企业数80家"
P2 = "力争到2026年，有效高新技术企业达到1750家，每千家企业中有效高新技术企业数35家"
add("cixi", "tech_sme_per_1000_firms", 2026, 80, "target", "tech SMEs per 1,000 enterprises", S1, P1)
add("cixi", "hte_per_1000_firms", 2026, 35, "target", "valid HTE per 1,000 enterprises", S1, P2)
add("cixi", "firm_base", 2026, 50000, "derived", "enterprises implied by the 2026 ratio targets (a plan figure)", S1, P1,
    "target", "4000 / 80 * 1000 = 50000")
add("cixi", "firm_base_from_hte", 2026, 50000, "derived", "enterprises implied by the HTE ratio target (a plan figure)", S1, P2,
    "target", "1750 / 35 * 1000 = 50000")
add("cixi", "unicorn_pool", 2026, 30, "target", "科技独角兽 under cultivation (about 30); not a modelled tier", S1,
    "重点培育30家左右产业领域新、研发强度高、技术专利多、复合增长快的“科技独角兽”企业")
add("cixi", "listing_reserve", 2026, 5, "target", "firms in the Ningbo STAR-market listing reserve; not modelled", S1,
    "力争到2026年，列入宁波市科创板拟上市企业储备库5家")
add("cixi", "hte_tech_service", 2026, 20, "target", "HTEs in the technology-service sector; not modelled", S1,
    "科技服务业高新技术企业达到20家")

# ---- Zhenhai 2022-2025 (002)
P = "高新技术企业数量达到685家;科技型中小企业数量突破2200家,均较“十三五”规划目标增长1倍以上"
add("zhenhai", "hte_valid", 2025, 685, "target", "高新技术企业数量 (valid stock)", S2, P)
add("zhenhai", "tech_sme", 2025, 2200, "target", "科技型中小企业数量 (stock; scope not stated)", S2, P)
add("zhenhai", "hte_valid_plan13", 2020, 342.5, "derived", "the 13th five-year plan's HTE target implied (at most this): a plan figure, not an actual", S2, P,
    "target", "685 / 2 = 342.5")
add("zhenhai", "tech_sme_plan13", 2020, 1100, "derived", "the 13th five-year plan's tech-SME target implied (at most this): a plan figure, not an actual", S2, P,
    "target", "2200 / 2 = 1100")
P = "每年挖掘科技型中小企业入池企业不少于250家、高新技术企业入池企业不少于150家、创新型领军企业入池企业不少于10家"
for y in (2022, 2023, 2024, 2025):
    add("zhenhai", "sme_pool_intake", y, 250, "target", "firms entering the tech-SME seedling pool (苗子池) per year, at least", S2, P)
    add("zhenhai", "hte_pool_intake", y, 150, "target", "firms entering the HTE pool per year, at least", S2, P)
    add("zhenhai", "leader_pool_intake", y, 10, "target", "firms entering the innovative-leader pool per year, at least", S2, P)

# ---- Yuyao 2025 reply (003): 2024 actuals
P = "全年新认定国家高新技术企业250家,全市高企总量达1032家"
add("yuyao", "hte_new", 2024, 250, "actual", "新认定 national HTE in 2024 (first-time certifications)", S3, P)
add("yuyao", "hte_valid", 2024, 1032, "actual", "高企总量 (valid stock, year-end 2024)", S3, P)
P = "2024年,新认定国家高新技术企业250家,总量达1032家、同比增长28.2%"
add("yuyao", "hte_valid_change", 2024, 227.0, "derived",
    "net change of the valid stock over 2024 implied by the growth statement (the 2023 level, 1032 / 1.282 = 805, "
    "is not a second independent observation: the change is fitted with the 2024 level)", S3, P,
    "actual", "1032 - 1032 / 1.282 = 227.0")
P = "新认定省科技型中小企业493家,总量达2770家"
add("yuyao", "tech_sme_new", 2024, 493, "actual", "newly registered provincial tech SMEs in 2024", S3, P)
add("yuyao", "tech_sme", 2024, 2770, "actual", "provincial tech SMEs, cumulative stock net of revocations (FACTS.md); modelled as tech SMEs incl. HTEs", S3, P)
add("yuyao", "hte_prov500", 2024, 17, "actual", "firms in the provincial HTE innovation top 500; the same reply later says 16 (a conflict); not modelled", S3,
    "17家企业列入2024年度省高新技术企业创新能力500强企业")
P = "全年已兑付高企培育库奖励999.5万;省科技型中小企业奖励482.6万;高新技术企业认定奖励6236万元"
add("yuyao", "subsidy_reserve_paid", 2024, 999.5, "actual", "HTE cultivation-reserve rewards paid in 2024, 10k yuan", S3, P)
add("yuyao", "subsidy_tech_sme_paid", 2024, 482.6, "actual", "provincial tech-SME rewards paid in 2024, 10k yuan", S3, P)
add("yuyao", "subsidy_hte_paid", 2024, 6236, "actual", "HTE certification rewards paid in 2024, 10k yuan", S3, P)
P = "2024年,212家享受研发补助3499.27万元"
add("yuyao", "rd_subsidy_paid", 2024, 3499.27, "actual", "R&D subsidies paid in 2024, 10k yuan; not a tier lever", S3, P)
add("yuyao", "rd_subsidy_firms", 2024, 212, "actual", "firms receiving R&D subsidies in 2024; not modelled", S3, P)
add("yuyao", "hte_valid", 2025, 1200, "target", "高新技术企业突破1200家 (valid stock, exceed)", S3, "2、高新技术企业突破1200家")
P = "新增高新技术企业200家,新增省科技型中小企业400家"
add("yuyao", "hte_new", 2025, 200, "target", "新增 HTE in 2025 (read as first-time certifications)", S3, P)
add("yuyao", "tech_sme_new", 2025, 400, "target", "newly registered provincial tech SMEs in 2025", S3, P)

# ---- Jiangbei 2022-2025 (004)
for ind, passage, vals, note in (
        ("hte_valid", "1 高新技术企业数量（家） 203 278 500 区科技局", (203, 278, 500), "高新技术企业数量 (valid stock)"),
        ("tech_sme", "2 科技型中小企业数量（家） 1069* 1400 2000 区科技局 2020 年数据", (1069, 1400, 2000),
         "科技型中小企业数量 (stock; scope not stated); the base is 2020 data (*)"),
        ("hte_above_scale", "3 规模以上高新技术企业数量（家） 138 150 200 区科技局", (138, 150, 200), "above-scale HTE; not a modelled tier"),
        ("hte_listed", "4 上市高新技术企业数量（家） 7 7 15", (7, 7, 15), "listed HTE; not a modelled tier")):
    base_year = 2020 if ind == "tech_sme" else 2021
    add("jiangbei", ind, base_year, vals[0], "actual", note + "; plan base (基数)", S4, passage)
    add("jiangbei", ind, 2022, vals[1], "target", note, S4, passage)
    add("jiangbei", ind, 2025, vals[2], "target", note, S4, passage)
add("jiangbei", "hte_service", 2025, 100, "target", "service-sector HTEs (exceed); not modelled", S4,
    "力争全区服务业领域高新技术企业超过100家")
table = [("jiangbei", "全区", (203, 278, 340, 412, 500)),
         ("jb_waitan", "外滩街道", (0, 3, 6, 10, 15)), ("jb_wenjiao", "文教街道", (1, 3, 6, 10, 15)),
         ("jb_kongpu", "孔浦街道", (4, 7, 10, 14, 19)), ("jb_yongjiang", "甬江街道", (24, 31, 36, 42, 50)),
         ("jb_zhuangqiao", "庄桥街道", (28, 38, 46, 54, 64)), ("jb_hongtang", "洪塘街道", (15, 23, 28, 34, 42)),
         ("jb_qianjiang", "前江街道", (13, 15, 19, 23, 30)), ("jb_xinxing", "区新兴产业服务中心", (60, 74, 84, 94, 105)),
         ("jb_cicheng", "慈城镇", (17, 27, 33, 41, 50)), ("jb_hitech", "宁波江北高新技术 产业园区管委会", (31, 33, 37, 45, 55)),
         ("jb_qianyang", "浙江前洋经济开发区 管委会", (10, 24, 35, 45, 55))]
for unit, label, vals in table:
    passage = label + " " + " ".join(map(str, vals))
    for y, v in zip((2021, 2022, 2023, 2024, 2025), vals):
        if unit == "jiangbei" and y in (2021, 2022, 2025):
            continue  # already recorded from the indicator table, with the same values
        add(unit, "hte_valid", y, v, "actual" if y == 2021 else "target",
            "高新技术企业数量 (valid stock); 附件2 年度目标分解表, the 2021 column is the base", S4, passage)

with open(ROOT / "calibration" / "ledger.csv", "w", newline="", encoding="utf-8") as fh:
    w = csv.DictWriter(fh, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
with open(ROOT / "calibration" / "units.csv", "w", newline="", encoding="utf-8") as fh:
    w = csv.writer(fh)
    w.writerow(["unit", "parent", "zh", "en"])
    w.writerows(UNITS)
print(len(rows), "rows")
