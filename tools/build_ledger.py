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

# Why a figure is not a modelled indicator: the definition of every such row ends with
# "not modelled: REASON"; run.json and the report list its targets with that reason.
NM = "not modelled: "
R_TIER = NM + "the cohort model has no such tier (calibration/structure.toml declares the indicators)"
R_UNICORN = NM + "the unicorn programme is a lever (cixi_unicorn, calibration/levers.toml), not a tier"
R_LISTED = NM + "the cohort model has no listed-firm tier (listed firms sit in the leader tier, not split by listing)"
R_ABOVE = NM + "the cohort model does not split HTEs by size (above or below scale)"
R_SECTOR = NM + "the cohort model does not split HTEs by sector"
R_RATIO = NM + "a ratio to all enterprises, whose number the cohort model does not hold"
R_INST = NM + "R&D institutions are units inside firms, not a tier of the cohort model"
R_SHARE = NM + "a share of firms by a property (R&D institutions, scale) the cohort model does not track"
R_SUPER = NM + "firms claiming the R&D super-deduction include firms outside the HTE and tech-SME tiers"
R_MONEY = NM + "an amount of money, not a count of firms in a tier"
R_PATENTS = NM + "patents are not firms; the cohort model counts firms"
R_PROJECTS = NM + "projects are instruments (levers in calibration/levers.toml), not firms in a tier"
R_POOL = NM + "the pool intakes are the settings of levers (zhenhai_*_pool, calibration/levers.toml), not indicators"
R_RANK = NM + "a ranking, not a tier"


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
    add("cixi_city", "unicorn_intake", y, 20, "target", "科技独角兽 selected per year (about 20); " + R_UNICORN, S0, P)
add("cixi_city", "listing_reserve", 2025, 5, "target", "firms in the Ningbo STAR-market listing reserve; " + R_LISTED, S0,
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
add("cixi", "tech_sme_per_1000_firms", 2026, 80, "target", "tech SMEs per 1,000 enterprises; " + R_RATIO, S1, P1)
add("cixi", "hte_per_1000_firms", 2026, 35, "target", "valid HTE per 1,000 enterprises; " + R_RATIO, S1, P2)
add("cixi", "firm_base", 2026, 50000, "derived", "enterprises implied by the 2026 ratio targets (a plan figure)", S1, P1,
    "target", "4000 / 80 * 1000 = 50000")
add("cixi", "firm_base_from_hte", 2026, 50000, "derived", "enterprises implied by the HTE ratio target (a plan figure)", S1, P2,
    "target", "1750 / 35 * 1000 = 50000")
add("cixi", "unicorn_pool", 2026, 30, "target", "科技独角兽 under cultivation (about 30); " + R_UNICORN, S1,
    "重点培育30家左右产业领域新、研发强度高、技术专利多、复合增长快的“科技独角兽”企业")
add("cixi", "listing_reserve", 2026, 5, "target", "firms in the Ningbo STAR-market listing reserve; " + R_LISTED, S1,
    "力争到2026年，列入宁波市科创板拟上市企业储备库5家")
add("cixi", "hte_tech_service", 2026, 20, "target", "HTEs in the technology-service sector; " + R_SECTOR, S1,
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
    add("zhenhai", "sme_pool_intake", y, 250, "target", "firms entering the tech-SME seedling pool (苗子池) per year, at least; " + R_POOL, S2, P)
    add("zhenhai", "hte_pool_intake", y, 150, "target", "firms entering the HTE pool per year, at least; " + R_POOL, S2, P)
    add("zhenhai", "leader_pool_intake", y, 10, "target", "firms entering the innovative-leader pool per year, at least; " + R_POOL, S2, P)

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
add("yuyao", "hte_prov500", 2024, 17, "actual", "firms in the provincial HTE innovation top 500; the same reply later says 16 (a conflict); " + R_RANK, S3,
    "17家企业列入2024年度省高新技术企业创新能力500强企业")
P = "全年已兑付高企培育库奖励999.5万;省科技型中小企业奖励482.6万;高新技术企业认定奖励6236万元"
add("yuyao", "subsidy_reserve_paid", 2024, 999.5, "actual", "HTE cultivation-reserve rewards paid in 2024, 10k yuan; " + R_MONEY, S3, P)
add("yuyao", "subsidy_tech_sme_paid", 2024, 482.6, "actual", "provincial tech-SME rewards paid in 2024, 10k yuan; " + R_MONEY, S3, P)
add("yuyao", "subsidy_hte_paid", 2024, 6236, "actual", "HTE certification rewards paid in 2024, 10k yuan; " + R_MONEY, S3, P)
P = "2024年,212家享受研发补助3499.27万元"
add("yuyao", "rd_subsidy_paid", 2024, 3499.27, "actual", "R&D subsidies paid in 2024, 10k yuan (the yuyao_rd_subsidy lever); " + R_MONEY, S3, P)
add("yuyao", "rd_subsidy_firms", 2024, 212, "actual", "firms receiving R&D subsidies in 2024 (the yuyao_rd_subsidy lever); " + R_SUPER.replace("claiming the R&D super-deduction", "receiving R&D subsidies"), S3, P)
add("yuyao", "hte_valid", 2025, 1200, "target", "高新技术企业突破1200家 (valid stock, exceed)", S3, "2、高新技术企业突破1200家")
P = "新增高新技术企业200家,新增省科技型中小企业400家"
add("yuyao", "hte_new", 2025, 200, "target", "新增 HTE in 2025 (read as first-time certifications)", S3, P)
add("yuyao", "tech_sme_new", 2025, 400, "target", "newly registered provincial tech SMEs in 2025", S3, P)

# ---- Jiangbei 2022-2025 (004)
for ind, passage, vals, note in (
        ("hte_valid", "1 高新技术企业数量（家） 203 278 500 区科技局", (203, 278, 500), "高新技术企业数量 (valid stock)"),
        ("tech_sme", "2 科技型中小企业数量（家） 1069* 1400 2000 区科技局 2020 年数据", (1069, 1400, 2000),
         "科技型中小企业数量 (stock; scope not stated); the base is 2020 data (*)"),
        ("hte_above_scale", "3 规模以上高新技术企业数量（家） 138 150 200 区科技局", (138, 150, 200), "above-scale HTE; " + R_ABOVE),
        ("hte_listed", "4 上市高新技术企业数量（家） 7 7 15", (7, 7, 15), "listed HTE; " + R_LISTED)):
    base_year = 2020 if ind == "tech_sme" else 2021
    add("jiangbei", ind, base_year, vals[0], "actual", note + "; plan base (基数)", S4, passage)
    add("jiangbei", ind, 2022, vals[1], "target", note, S4, passage)
    add("jiangbei", ind, 2025, vals[2], "target", note, S4, passage)
add("jiangbei", "hte_service", 2025, 100, "target", "service-sector HTEs (exceed); " + R_SECTOR, S4,
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

# ---- figures about R&D institutions, listings, R&D support, patents and projects --------
# Cixi 000 (the 市级 scope, as its HTE target)
P = "到2025年，争取建成宁波市级以上企业研发机构300家，省级企业研发机构100家"
add("cixi_city", "rd_institutions_city_level", 2025, 300, "target", "enterprise R&D institutions at Ningbo level or above; " + R_INST, S0, P)
add("cixi_city", "rd_institutions_provincial", 2025, 100, "target", "provincial enterprise R&D institutions; " + R_INST, S0, P)
add("cixi_city", "hte_below_scale_upgraded_share", 2025, 70, "target",
    "share (%) of the below-scale HTEs that become above-scale (小升规) by the end of 2025, at least; " + R_ABOVE, S0,
    "争取现有规下高新技术企业到2025年底实现70%以上的“小升规”")
P = "到2025年，推荐申报上级重大专项项目200项以上，入选30项以上"
add("cixi_city", "major_projects_recommended", 2025, 200, "target", "major projects recommended to higher levels, cumulative, at least; " + R_PROJECTS, S0, P)
add("cixi_city", "major_projects_selected", 2025, 30, "target", "major projects selected by higher levels, cumulative, at least; " + R_PROJECTS, S0, P)
# Cixi 001 (whole city)
P = "力争到2026年，建成宁波市级以上企业研发机构400家，省级企业研发机构100家，企业研发机构设置率提升到90%"
add("cixi", "rd_institutions_city_level", 2026, 400, "target", "enterprise R&D institutions at Ningbo level or above; " + R_INST, S1, P)
add("cixi", "rd_institutions_provincial", 2026, 100, "target", "provincial enterprise R&D institutions; " + R_INST, S1, P)
add("cixi", "rd_institution_rate", 2026, 90, "target", "share (%) of enterprises with an R&D institution; " + R_SHARE, S1, P)
add("cixi", "listed_new", 2026, 10, "target", "newly listed enterprises, 2022-2026; " + R_LISTED, S1,
    "至2026年，营业收入四亿元以上企业数量实现倍增，新增上市企业10家")
add("cixi", "major_projects_cumulative", 2026, 40, "target", "major projects at Ningbo level or above undertaken, cumulative, at least; " + R_PROJECTS, S1,
    "力争到2026年，累计承担宁波市级以上重大科技项目40项以上")
# Zhenhai 002 (the STAR-market "零的突破" is a word, not a number: not recorded)
add("zhenhai", "rd_institutions_city_level", 2025, 200, "target", "enterprise R&D institutions at city level or above (more than); " + R_INST, S2,
    "市级以上企业研发机构数量超过200家")
P = "到2025年,国家企业技术中心力争达到3家,省级及以上企业工程(技术)中心65家,市级企业工程(技术)中心140家,区级及以上企业工程(技术)中心360家"
for ind, v, note in (("national_tech_centres", 3, "national enterprise technology centres"),
                     ("rd_centres_provincial", 65, "enterprise engineering (technology) centres at provincial level or above"),
                     ("rd_centres_city", 140, "city-level enterprise engineering (technology) centres"),
                     ("rd_centres_district", 360, "enterprise engineering (technology) centres at district level or above")):
    add("zhenhai", ind, 2025, v, "target", note + "; " + R_INST, S2, P)
add("zhenhai", "key_lab_platforms", 2025, 6, "target", "key laboratories, new R&D institutions and similar platforms at city level or above, cumulative, at least; " + R_INST, S2,
    "到2025年,力争累计建成市级及以上重点实验室、新型研发机构等平台6个以上")
add("zhenhai", "tech_innovation_centres", 2025, 1, "target", "technology innovation centres at city level or above, at least; " + R_INST, S2,
    "到2025年,争取建设市级及以上技术创新中心1家以上")
for y in (2022, 2023, 2024, 2025):
    add("zhenhai", "key_tech_projects", y, 3, "target", "key technology projects a year (3-5; the lever zhenhai_projects); " + R_PROJECTS, S2,
        "每年实施3-5项技术攻关专项,每个项目最高给予200万元补助")
    add("zhenhai", "city_major_projects_applied", y, 10, "target", "applications for city major projects a year, at least; " + R_PROJECTS, S2,
        "到2025年,每年申报市级重大攻关项目不少于10项")
# Yuyao 003
add("yuyao", "rd_centres_new_county", 2024, 141, "actual", "new county-level enterprise engineering (technology) centres in 2024; " + R_INST, S3,
    "新增本级企业工程(技术)中心141家")
add("yuyao", "rd_institutions_city_level_new", 2025, 30, "target", "new enterprise R&D institutions at Ningbo level or above in 2025; " + R_INST, S3,
    "新增宁波级以上企业研发机构30家")
add("yuyao", "rd_spending_firms_new", 2024, 111, "actual", "firms with R&D spending for the first time in 2024; " + R_SUPER.replace(
    "claiming the R&D super-deduction", "with R&D spending"), S3, "2024年,212家享受研发补助3499.27万元,新增研发费企业111家")
P = "全年立项上级重大项目15个,争取到上级资金5340万元"
add("yuyao", "upper_major_projects", 2024, 15, "actual", "major projects funded by higher levels in 2024; " + R_PROJECTS, S3, P)
P = "立项重点项目8项,一般项目16项。下达项目资金2185万元"
add("yuyao", "county_key_projects", 2024, 8, "actual", "county key projects (科技创新暨揭榜挂帅) in 2024; " + R_PROJECTS, S3, P)
add("yuyao", "county_general_projects", 2024, 16, "actual", "county general projects in 2024; " + R_PROJECTS, S3, P)
add("yuyao", "subsidy_projects_paid", 2024, 2185, "actual", "county project funds paid in 2024, 10k yuan (the yuyao_projects lever); " + R_MONEY, S3, P)
add("yuyao", "city_major_projects", 2025, 15, "target", "city major science and technology projects in 2025, at least; " + R_PROJECTS, S3,
    "实施市级重大科技项目15项以上")
# Jiangbei 004, 附件1: the rest of the indicator table
for ind, passage, vals, note, reason, base_year in (
        ("super_deduction_firms", "5 享受研发费用加计扣除企业数量（家） 355* 450 650 江北区税务局 2020 年数据", (355, 450, 650),
         "firms claiming the R&D super-deduction; the base is 2020 data (*)", R_SUPER, 2020),
        ("above_scale_rd_institution_coverage", "6 规模以上工业企业研发机构覆盖率（%） 38.5 55 100 区科技局", (38.5, 55, 100),
         "share (%) of above-scale industrial firms with an R&D institution", R_SHARE, 2021),
        ("rd_institutions_city_level", "7 市级以上研发机构数量（个） 131 150 200 区科技局", (131, 150, 200),
         "R&D institutions at city level or above", R_INST, 2021),
        ("hte_rd_spending", "8 高新技术企业年研发经费（亿元） 23.2 27 40 区科技局", (23.2, 27, 40),
         "R&D spending of HTEs a year, 100m yuan", R_MONEY, 2021),
        ("hte_invention_patents", "9 高新技术企业发明专利拥有量（件） 1083 1200 1500 区市场监管局", (1083, 1200, 1500),
         "invention patents held by HTEs", R_PATENTS, 2021)):
    add("jiangbei", ind, base_year, vals[0], "actual", note + "; plan base (基数); " + reason, S4, passage)
    add("jiangbei", ind, 2022, vals[1], "target", note + "; " + reason, S4, passage)
    add("jiangbei", ind, 2025, vals[2], "target", note + "; " + reason, S4, passage)
P = "11 实施关键核心技术攻关等项目数量（项） / 20 50 区科技局"
for y, v in ((2022, 20), (2025, 50)):
    add("jiangbei", "key_tech_projects_cumulative", y, v, "target",
        "key core-technology and similar projects, cumulative from 2022 (no base); the lever jiangbei_projects; " + R_PROJECTS, S4, P)

with open(ROOT / "calibration" / "ledger.csv", "w", newline="", encoding="utf-8") as fh:
    w = csv.DictWriter(fh, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
with open(ROOT / "calibration" / "units.csv", "w", newline="", encoding="utf-8") as fh:
    w = csv.writer(fh)
    w.writerow(["unit", "parent", "zh", "en"])
    w.writerows(UNITS)
print(len(rows), "rows")
