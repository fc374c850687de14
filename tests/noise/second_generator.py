#!/usr/bin/env python3
"""Second, independent synthetic entry/exit generator for record-linkage evaluation.

Writes DIR/entries.csv (entries into country A), DIR/exits.csv (later entries into
country B = exits from A), DIR/truth.csv (entry_id,exit_id,kinds) and
DIR/manifest.json (parameters, counts, per-kind eligible/applied counters).
Optionally DIR/persons.csv (--persons): which person / travel group each record
belongs to, for analysing false links among relatives, twins and namesakes.

Standard library only, deterministic for a given --seed and arguments, streams
records to disk (bucketed external sort by time): 1,000,000 entries take about
two minutes and under 100 MB of memory.  See README.md beside this file for the noise model.

    python3 second_generator.py --entries 100000 --noise heavy --seed 7 --out /tmp/d
    python3 second_generator.py --entries 5000 --only dob_day_month_swap --out /tmp/k
    python3 second_generator.py --self-test
"""

from __future__ import annotations

import argparse
import bisect
import calendar
import functools
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import unicodedata

COLUMNS = ["id", "given_names", "middle_names", "family_name", "date_of_birth", "sex",
           "nationality", "document_country", "document_type", "document_number",
           "entered_at", "port_code"]
(ID, GIV, MID, FAM, DOB, SEX, NAT, DOCC, DOCT, DOCN, AT, PORT) = range(12)
IDENTITY = (GIV, MID, FAM, DOB, SEX, NAT, DOCC, DOCT, DOCN)
FIELD_NAME = {i: c for i, c in enumerate(COLUMNS)}

# ---------------------------------------------------------------------------
# Noise kinds.  (group, symmetric, light, moderate, heavy)
#   group: kinds of one group are mutually exclusive for one pair; the rate of a
#          kind is the probability that an *eligible* pair carries it.
#   symmetric: the error may have been made when the entry was recorded (the entry
#          then carries the erroneous value and the exit the right one); the kind
#          still labels the pair.  Asymmetric kinds always change the exit.
# ---------------------------------------------------------------------------
KIND_TABLE = [
    # kind                 group     sym    light   moderate heavy
    ("name_translit",      None,     True,  0.045,  0.13,    0.31),
    ("name_nickname",      None,     True,  0.012,  0.032,   0.075),
    ("family_multipart",   None,     True,  0.055,  0.16,    0.36),
    ("middle_missing",     "middle", True,  0.028,  0.075,   0.165),
    ("middle_initial",     "middle", True,  0.013,  0.041,   0.105),
    ("middle_in_given",    "middle", True,  0.019,  0.058,   0.125),
    ("name_order_swap",    None,     True,  0.0035, 0.012,   0.033),
    ("name_typo",          None,     True,  0.011,  0.034,   0.083),
    ("name_ocr",           None,     True,  0.0045, 0.013,   0.029),
    ("case_accent",        None,     True,  0.022,  0.068,   0.185),
    ("dob_day_month_swap", "dob",    True,  0.0032, 0.0095,  0.023),
    ("dob_digit",          "dob",    True,  0.0022, 0.0065,  0.017),
    ("dob_digit_transpose", "dob",   True,  0.0012, 0.0041,  0.0115),
    ("dob_year_off1",      "dob",    True,  0.0013, 0.0038,  0.0105),
    ("dob_year_off10",     "dob",    True,  0.0006, 0.0019,  0.0055),
    ("dob_partial",        "dob",    True,  0.0021, 0.0068,  0.0175),
    ("dob_missing",        "dob",    True,  0.0011, 0.0036,  0.0095),
    ("sex_missing",        "sex",    True,  0.0024, 0.0077,  0.0205),
    ("sex_x",              "sex",    True,  0.0009, 0.0031,  0.0085),
    ("nat_code_variant",   "doc",    True,  0.085,  0.21,    0.44),
    ("nat_status",         "doc",    True,  0.11,   0.26,    0.48),
    ("dual_national",      "doc",    False, 0.0023, 0.0062,  0.0145),
    ("doc_renewal",        "doc",    False, 0.0042, 0.0115,  0.0265),
    ("doc_ocr",            "doc",    True,  0.0033, 0.0098,  0.0255),
    ("doc_typo",           "doc",    True,  0.0024, 0.0071,  0.0172),
    ("doc_type_variant",   "doc",    True,  0.011,  0.029,   0.068),
    ("value_missing",      None,     True,  0.0055, 0.0155,  0.0395),
]
KINDS = [k[0] for k in KIND_TABLE]
KIND_GROUP = {k[0]: k[1] for k in KIND_TABLE}
KIND_SYM = {k[0]: k[2] for k in KIND_TABLE}
PRESETS = {name: {k[0]: k[i] for k in KIND_TABLE}
           for i, name in ((3, "light"), (4, "moderate"), (5, "heavy"))}

ELIGIBILITY = {
    "name_translit": "a name token has another romanisation/transliteration that renders differently",
    "name_nickname": "the first given name has a nickname (or is one) in the traveller's culture",
    "family_multipart": "family name of two or more parts, a particle, a hyphen or an apostrophe",
    "middle_missing": "the traveller has a middle name",
    "middle_initial": "the traveller has a middle name",
    "middle_in_given": "the traveller has a middle name",
    "name_order_swap": "given and family names both present and different",
    "name_typo": "a name field of two or more characters",
    "name_ocr": "a name contains O, I, L, S, B, Z or G",
    "case_accent": "a name field whose case or accents can change",
    "dob_day_month_swap": "date of birth fully known, day <= 12, day != month",
    "dob_digit": "date of birth fully known",
    "dob_digit_transpose": "a transposition within year tens/units, month or day gives a valid past date",
    "dob_year_off1": "year known and year +-1 is a valid past date",
    "dob_year_off10": "year known and year +-10 is a valid past date",
    "dob_partial": "day of birth known",
    "dob_missing": "date of birth present (never with --no-empty)",
    "sex_missing": "sex present (never with --no-empty)",
    "sex_x": "sex F or M",
    "nat_code_variant": "German document or nationality (D <-> DEU)",
    "nat_status": "refugee or stateless traveller (XXA/XXB/XXC <-> country of origin)",
    "dual_national": "ordinary nationality (not refugee/stateless)",
    "doc_renewal": "every pair",
    "doc_ocr": "document number contains 0 O 1 I L 5 S 8 B 2 Z 6 G",
    "doc_typo": "document number of two or more characters",
    "doc_type_variant": "document type P, I, ID, C or AC",
    "value_missing": "a given/family/nationality/document field untouched by other kinds, present on both sides",
}

# Population parameters (override with --pop key=value).
POP_DEFAULTS = {
    "days": 120,                    # entry window length in days
    "tail_days": 21,                # exits observed this long after the window
    "exit_prob": 0.935,             # a trip's exit is recorded (else overstay / unrecorded)
    "unmatched_exit_rate": 0.085,   # exits of people with no entry in the window, per entry
    "unmatched_namesake_share": 0.22,  # of those, drawn from the very common names
    "repeat_share": 0.17,           # travellers making several trips in the window
    "commuter_share": 0.035,        # travellers making many short trips
    "prior_exit_share": 0.12,       # of repeat travellers: an exit before their first entry
    "household_share": 0.14,        # travel units of two or more relatives
    "together_share": 0.8,          # households that cross together
    "namesake_share": 0.025,        # single travellers with a very common full name
    "entry_side": 0.3,              # symmetric kinds: share where the entry carries the error
}
# Kinds whose eligibility never overlaps share one probability interval in their
# group (a German document is never a refugee's travel document), so that both can
# have high rates.
SHARED_SLOT = {"nat_status": "nat_code_variant"}
HOUSEHOLD_TYPES = [("couple", 30), ("family", 34), ("siblings", 12), ("senior_junior", 11),
                   ("twins", 13)]

# ---------------------------------------------------------------------------
# Text utilities
# ---------------------------------------------------------------------------
ICAO_MAP = {"Ä": "AE", "Ö": "OE", "Ü": "UE", "Å": "AA", "Æ": "AE", "Ø": "OE", "ß": "SS",
            "Þ": "TH", "Ð": "D", "Đ": "D", "Œ": "OE", "Ĳ": "IJ", "Ł": "L", "ı": "I",
            "ẞ": "SS"}
FOLD_MAP = {"ß": "ss", "Ø": "O", "ø": "o", "Ł": "L", "ł": "l", "Æ": "AE", "æ": "ae",
            "Þ": "Th", "þ": "th", "Ð": "D", "ð": "d", "Đ": "D", "đ": "d", "ı": "i",
            "Œ": "OE", "œ": "oe"}


@functools.lru_cache(maxsize=None)
def is_latin(s: str) -> bool:
    for c in s:
        if c.isalpha() and ord(c) > 0x24F and c not in "ẞ":
            if not (0x1E00 <= ord(c) <= 0x1EFF):   # Latin Extended Additional (Vietnamese)
                return False
    return True


@functools.lru_cache(maxsize=None)
def strip_marks(s: str) -> str:
    out = []
    for c in s:
        if c in FOLD_MAP:
            out.append(FOLD_MAP[c])
            continue
        d = unicodedata.normalize("NFKD", c)
        out.append("".join(x for x in d if not unicodedata.combining(x)))
    return "".join(out)


@functools.lru_cache(maxsize=None)
def icao_case(s: str) -> str:
    """ICAO 9303 transliteration, keeping the case pattern (Müller -> Mueller)."""
    out = []
    n = len(s)
    for i, c in enumerate(s):
        up = c.upper() if c != "ß" else "ß"
        key = c if c in ICAO_MAP else up
        if key in ICAO_MAP:
            rep = ICAO_MAP[key]
            if c.islower() or c == "ß":
                nxt = s[i + 1] if i + 1 < n else ""
                prv = s[i - 1] if i > 0 else ""
                rep = rep.lower()
                if c == "ß" and prv.isupper() and not nxt.islower():
                    rep = rep.upper()
            elif len(rep) > 1 and i + 1 < n and s[i + 1].islower():
                rep = rep[0] + rep[1:].lower()
            out.append(rep)
        else:
            out.append(strip_marks(c))
    return "".join(out)


@functools.lru_cache(maxsize=None)
def mrz_form(s: str) -> str:
    """What a machine-readable zone would carry: A-Z, filler read back as space."""
    t = icao_case(s).upper()
    out = []
    for c in t:
        if "A" <= c <= "Z":
            out.append(c)
        elif c in "'’.":
            continue
        else:
            out.append(" ")
    return " ".join("".join(out).split())


def fold(s: str) -> str:
    """Comparison key used by the self-test: no case, no marks."""
    return strip_marks(s).casefold()


def style(s: str, st: str) -> str:
    if not s:
        return s
    if st == "mrz":
        return mrz_form(s)
    if st == "upper":
        return s.upper()
    return s


def smart_title(s: str) -> str:
    out = []
    up = True
    for c in s:
        if c.isalpha():
            out.append(c.upper() if up else c.lower())
            up = False
        else:
            out.append(c)
            up = c in " -"
    return "".join(out)


def osa_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Damerau with adjacent transpositions)."""
    la, lb = len(a), len(b)
    if abs(la - lb) > 2:
        return 3
    d = [[0] * (lb + 1) for _ in range(la + 1)]
    for i in range(la + 1):
        d[i][0] = i
    for j in range(lb + 1):
        d[0][j] = j
    for i in range(1, la + 1):
        for j in range(1, lb + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[la][lb]


OCR_PAIRS = {"0": "O", "O": "0", "1": "IL", "I": "1", "L": "1", "5": "S", "S": "5",
             "8": "B", "B": "8", "2": "Z", "Z": "2", "6": "G", "G": "6"}
OCR_LETTERS = "OILSBZG"
QWERTY = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
KEY_NEIGH: dict[str, str] = {}
for _r, _row in enumerate(QWERTY):
    for _c, _ch in enumerate(_row):
        nb = []
        for dr in (-1, 0, 1):
            rr = _r + dr
            if 0 <= rr < 3:
                for dc in (-1, 0, 1):
                    cc = _c + dc + (0 if dr == 0 else (-dr if dr > 0 else 0))
                    if (dr, dc) != (0, 0) and 0 <= cc < len(QWERTY[rr]):
                        nb.append(QWERTY[rr][cc])
        KEY_NEIGH[_ch] = "".join(nb)


# ---------------------------------------------------------------------------
# Cyrillic romanisation: several schemes really found in passports and in other
# agencies' systems.  Index 0..4 is the scheme a person's documents use.
# ---------------------------------------------------------------------------
_VOW = set("аеёиоуыэюяіїєАЕЁИОУЫЭЮЯІЇЄ")
_RU_BASE = {"а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
            "з": "z", "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
            "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
            "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "ie", "ы": "y", "ь": "", "э": "e",
            "ю": "iu", "я": "ia", "і": "i", "ї": "i", "є": "ie", "ґ": "g", "'": ""}


def _cyr_scheme(word: str, scheme: str) -> str:
    w = word.lower()
    out = []
    n = len(w)
    for i, c in enumerate(w):
        prev = w[i - 1] if i > 0 else ""
        nxt = w[i + 1] if i + 1 < n else ""
        initial = i == 0 or prev in _VOW or prev in "ъь' -"
        final = i + 1 == n
        r = _RU_BASE.get(c, c)
        if scheme == "icao":            # ICAO 9303 (Russian passports since 2013)
            pass
        elif scheme == "oldpass":       # Russian passports 1997-2010 style
            r = {"ц": "tc", "ъ": "", "й": "i", "х": "kh", "ю": "iu", "я": "ia"}.get(c, r)
            if c == "и" and nxt == "й" and i + 2 == n:
                r = "i"
            if c == "й" and final and prev == "и":
                r = ""
        elif scheme == "popular":       # BGN/PCGN-like, what most English systems hold
            r = {"е": "ye" if initial else "e", "ё": "yo", "й": "y", "ю": "yu", "я": "ya",
                 "ъ": "", "ь": "y" if nxt == "и" else ""}.get(c, r)
            if c == "и" and nxt == "й" and i + 2 == n:
                r = ""
            if c == "й" and final and prev == "и":
                r = "y"
        elif scheme == "german":
            r = {"в": "w", "е": "je" if initial and i == 0 else "e", "ё": "jo", "ж": "sch",
                 "з": "s", "й": "j", "х": "ch", "ц": "z", "ч": "tsch", "ш": "sch",
                 "щ": "schtsch", "ъ": "", "ю": "ju", "я": "ja", "ь": ""}.get(c, r)
            if c == "с" and prev in _VOW and nxt in _VOW:
                r = "ss"
            if c == "й" and final and prev == "и":
                r = "j"
        elif scheme == "french":
            r = {"е": "e", "ё": "io", "ж": "j", "й": "i", "х": "kh", "ц": "ts", "ч": "tch",
                 "ш": "ch", "щ": "chtch", "у": "ou", "ю": "iou", "я": "ia", "ъ": "", "ь": ""}.get(c, r)
            if c == "с" and prev in _VOW and nxt in _VOW:
                r = "ss"
            if c == "г" and nxt in ("е", "и", "ё"):
                r = "gu"
            if c == "и" and nxt == "я":
                r = ""
            if c == "й" and final and prev == "и":
                r = ""
        elif scheme == "ukr":           # Ukrainian national system (2010)
            r = {"г": "h", "ґ": "g", "е": "e", "є": "ye" if i == 0 else "ie", "и": "y", "і": "i",
                 "ї": "yi" if i == 0 else "i", "й": "y" if i == 0 else "i", "х": "kh",
                 "ю": "yu" if i == 0 else "iu", "я": "ya" if i == 0 else "ia", "ь": "",
                 "'": ""}.get(c, r)
            if c == "г" and prev == "з":
                r = "gh"
        out.append(r)
    s = "".join(out)
    return s[:1].upper() + s[1:] if s else s


def cyr_lexeme(cyr: str, ukrainian: bool = False, extras: tuple = ()) -> tuple:
    schemes = (("ukr", "icao", "popular", "german", "french") if ukrainian
               else ("icao", "popular", "oldpass", "german", "french"))
    parts = cyr.split()
    vs = [" ".join(_cyr_scheme(p, sc) for p in parts) for sc in schemes]
    return tuple(vs) + tuple(extras) + (cyr,)


RU_MALE = ("Александр|Alexander,Сергей,Дмитрий,Андрей,Алексей,Михаил,Иван,Николай,Владимир,"
           "Евгений,Павел,Юрий,Максим,Артём,Олег,Игорь,Виктор,Константин,Григорий,Фёдор,"
           "Вячеслав,Роман,Антон,Денис,Кирилл,Станислав,Борис,Вадим,Тимур,Егор")
RU_FEMALE = ("Анна,Мария,Елена,Ольга,Наталья,Татьяна,Ирина,Екатерина,Юлия,Анастасия,Светлана,"
             "Ксения,Дарья,Людмила,Галина,Виктория,Алёна,Евгения,Полина,Вера,Надежда,Софья")
RU_FAMILY = ("Иванов,Смирнов,Кузнецов,Попов,Соколов,Лебедев,Козлов,Новиков,Морозов,Петров,"
             "Волков,Соловьёв,Васильев,Зайцев,Павлов,Семёнов,Голубев,Виноградов,Богданов,"
             "Воробьёв,Фёдоров,Михайлов,Беляев,Тарасов,Белов,Комаров,Орлов,Киселёв,Макаров,"
             "Андреев,Ковалёв,Ильин,Гусев,Титов,Кузьмин,Кудрявцев,Баранов,Куликов,Алексеев,"
             "Степанов,Яковлев,Сорокин,Сергеев,Романов,Захаров,Борисов,Королёв,Герасимов,"
             "Пономарёв,Григорьев,Лазарев,Медведев,Ершов,Никитин,Соболев,Жуков,Фролов,"
             "Журавлёв,Николаев,Крылов,Цветков,Щербаков,Харитонов,Чернов,Юдин,Шестаков,Цой")
UA_MALE = "Олександр,Андрій,Сергій,Володимир,Дмитро,Микола,Іван,Юрій,Олег,Богдан,Тарас,Василь,Євген"
UA_FEMALE = "Олена,Наталія,Тетяна,Оксана,Ірина,Юлія,Людмила,Світлана,Ганна,Марія,Катерина,Анастасія,Ярослава"
UA_FAMILY = ("Шевченко,Коваленко,Бондаренко,Ткаченко,Кравченко,Олійник,Шевчук,Поліщук,Бойко,"
             "Ковальчук,Мельник,Лисенко,Марченко,Руденко,Савченко,Петренко,Кравчук,Гончаренко,"
             "Мороз,Кузьменко,Ковальов,Григоренко,Згурський")
RU_STEMS = ("Бел,Горб,Крас,Лыс,Мокр,Песк,Руд,Сед,Ткач,Жел,Черн,Щеглов,Хмел,Гвозд,Дуб,Ерм,"
            "Зуб,Каш,Лап,Мух,Пыж,Рыж,Сух,Тюр,Уш,Шиш,Юрк,Яхонт,Зотк,Бурлак,Вихр,Глух")
RU_TAILS = ("ов,ев,ин,ихин,ович,анов,яков,ушкин")


def _ru_female(fam_cyr: str) -> str:
    for a, b in (("ский", "ская"), ("цкий", "цкая"), ("ов", "ова"), ("ев", "ева"), ("ёв", "ёва"),
                 ("ин", "ина"), ("ын", "ына")):
        if fam_cyr.endswith(a):
            return fam_cyr[: -len(a)] + b
    return fam_cyr


def _patronymic(father_cyr: str, female: bool, ukrainian: bool) -> str:
    if father_cyr.endswith("й"):
        stem = father_cyr[:-1]
        return stem + ("евна" if not ukrainian else "ївна") if female else stem + "евич"
    if father_cyr.endswith("о") and ukrainian:
        return father_cyr[:-1] + ("івна" if female else "ович")
    return father_cyr + ("овна" if not ukrainian else "івна") if female else father_cyr + "ович"


# ---------------------------------------------------------------------------
# Chinese: lexeme positions [pinyin, Wade-Giles, Cantonese/HK, hanzi].
# ---------------------------------------------------------------------------
CN_FAMILY = ("Wang|Wang|Wong|王,Li|Li|Lee|李,Zhang|Chang|Cheung|张,Liu|Liu|Lau|刘,Chen|Ch'en|Chan|陈,"
             "Yang|Yang|Yeung|杨,Huang|Huang|Wong|黄,Zhao|Chao|Chiu|赵,Wu|Wu|Ng|吴,Zhou|Chou|Chow|周,"
             "Xu|Hsu|Tsui|徐,Sun|Sun|Suen|孙,Ma|Ma|Ma|马,Zhu|Chu|Chu|朱,Hu|Hu|Wu|胡,Guo|Kuo|Kwok|郭,"
             "He|Ho|Ho|何,Lin|Lin|Lam|林,Luo|Lo|Law|罗,Zheng|Cheng|Cheng|郑,Liang|Liang|Leung|梁,"
             "Xie|Hsieh|Tse|谢,Song|Sung|Sung|宋,Tang|T'ang|Tong|唐,Han|Han|Hon|韩,Feng|Feng|Fung|冯,"
             "Deng|Teng|Tang|邓,Cao|Ts'ao|Tso|曹,Peng|P'eng|Pang|彭,Zeng|Tseng|Tsang|曾,Xiao|Hsiao|Siu|萧,"
             "Cai|Ts'ai|Choi|蔡,Pan|P'an|Poon|潘,Tian|T'ien|Tin|田,Dong|Tung|Tung|董,Yuan|Yuan|Yuen|袁")
CN_SYL = ("wei:wei:伟,zhi:chih:志,xiu:hsiu:秀,ying:ying:英,jian:chien:建,guo:kuo:国,qiang:ch'iang:强,"
          "xin:hsin:欣,hui:hui:慧,ming:ming:明,hai:hai:海,yan:yen:燕,jun:chün:军,li:li:丽,na:na:娜,"
          "fang:fang:芳,jing:ching:静,min:min:敏,yu:yü:玉,zhen:chen:珍,xiao:hsiao:晓,hong:hung:红,"
          "ping:p'ing:平,lei:lei:磊,tao:t'ao:涛,chao:ch'ao:超,yong:yung:勇,jie:chieh:杰,feng:feng:峰,"
          "lan:lan:兰,mei:mei:梅,yun:yün:云,qing:ch'ing:清,wen:wen:文,bo:po:波,dong:tung:东,"
          "hua:hua:华,rui:jui:瑞,xue:hsüeh:雪,zi:tzu:子,han:han:涵,yi:i:怡,hao:hao:浩,kai:k'ai:凯,"
          "peng:p'eng:鹏,shu:shu:淑,lin:lin:琳,cheng:ch'eng:成,long:lung:龙,xia:hsia:霞")
CN_SYLS = [tuple(x.split(":")) for x in CN_SYL.split(",")]


def cn_given_lexeme(syls: list) -> tuple:
    py = [s[0] for s in syls]
    wg = [s[1] for s in syls]
    hz = "".join(s[2] for s in syls)
    if len(syls) == 1:
        return (py[0].capitalize(), wg[0].capitalize(), py[0].capitalize(), hz)
    joined = py[0].capitalize() + "".join(py[1:])
    wgs = "-".join([wg[0].capitalize()] + [w.lower() for w in wg[1:]])
    spaced = " ".join(p.capitalize() for p in py)
    hyph = "-".join([py[0].capitalize()] + py[1:])
    return (joined, wgs, spaced, hz, hyph)


# ---------------------------------------------------------------------------
# Name pools.  Entries separated by ',', tokens of a multi-part name by ' ',
# spelling variants of a token by '|', a space inside one variant by '~'.
# ---------------------------------------------------------------------------
POOLS = {
    "EN": dict(
        male="James,John,Robert,Michael,William,David,Richard,Joseph,Thomas,Charles,Christopher,"
             "Daniel,Matthew,Anthony,Mark,Steven|Stephen,Paul,Andrew,Joshua,Kenneth,Kevin,Brian,"
             "George,Timothy,Ronald,Edward,Jason,Jeffrey|Geoffrey,Ryan,Jacob,Gary,Nicholas,Eric,"
             "Jonathan,Samuel,Benjamin,Patrick,Alexander,Peter,Liam,Oliver,Harry,Callum,Sean|Shaun,"
             "Declan,Lachlan,Angus,Theodore,Frederick,Lawrence|Laurence,Gregory,Donald",
        female="Mary,Patricia,Jennifer,Linda,Elizabeth,Barbara,Susan,Jessica,Sarah,Karen,Nancy,"
               "Margaret,Lisa,Betty,Dorothy,Sandra,Ashley,Kimberly,Donna,Emily,Michelle,Carol,"
               "Amanda,Melissa,Deborah,Stephanie,Rebecca,Laura,Sharon,Cynthia,Katherine|Catherine|Kathryn,"
               "Amy,Shirley,Angela,Helen,Anna,Brenda,Emma,Olivia,Charlotte,Siobhan,Niamh,Aoife,"
               "Victoria,Abigail,Samantha,Christine|Christina,Jacqueline,Alexandra,Zoe|Zoë,Chloe|Chloë",
        family="Smith,Jones,Williams,Taylor,Brown,Davies,Evans,Wilson,Thomas,Johnson,Roberts,"
               "Robinson,Thompson,Wright,Walker,White,Edwards,Hughes,Green,Hall,Lewis,Harris,"
               "Clarke|Clark,Jackson,Wood,Turner,Martin,Cooper,Hill,Ward,Morris,Moore,King,Baker,"
               "Harrison,Morgan,Allen,James,Scott,Phillips,Watson,Davis,Parker,Price,Bennett,Young,"
               "Griffiths,Mitchell,Kelly,Cook,Carter,Richardson,Bailey,Collins,Bell,Shaw,Murphy,"
               "Miller,Cox,Richards,Marshall,Anderson,Simpson,Ellis,Adams,Wilkinson,Foster,Chapman,"
               "O'Brien,O'Connor,O'Neill,O'Sullivan,McCarthy,MacDonald|McDonald,McLaughlin,"
               "Fitzgerald,Gallagher,Doherty,Byrne,Ryan,Walsh,Murray,Campbell,Stewart,Reid,"
               "Robertson,Thomson,Macleod|MacLeod|McLeod,Fraser,Henderson,Van~Wyk,Du~Plessis|Duplessis,Pretorius",
        nick=("Robert:Bob|Rob|Bobby|Robbie;William:Bill|Will|Billy|Liam;Alexander:Alex|Sasha|Sandy;"
              "Alexandra:Alex|Sasha|Sandra|Lexi;Katherine|Catherine|Kathryn:Kate|Katie|Kathy|Kat;"
              "Elizabeth:Liz|Beth|Betty|Eliza|Lizzie;Margaret:Maggie|Meg|Peggy;Richard:Rick|Dick|Rich;"
              "James:Jim|Jimmy|Jamie;John:Jack|Johnny;Michael:Mike|Mick;Thomas:Tom|Tommy;"
              "Christopher:Chris|Kit;Daniel:Dan|Danny;Joseph:Joe|Joey;Charles:Charlie|Chuck;"
              "Edward:Ed|Ted|Eddie;Anthony:Tony;Nicholas:Nick|Nicky;Matthew:Matt;Andrew:Andy|Drew;"
              "Jonathan:Jon|Jonny;Samuel:Sam|Sammy;Benjamin:Ben|Benny;Jennifer:Jen|Jenny;"
              "Patricia:Pat|Patty|Trish;Susan:Sue|Susie;Deborah:Deb|Debbie;Rebecca:Becky|Becca;"
              "Victoria:Vicky|Tori;Jessica:Jess|Jessie;Abigail:Abby|Gail;Patrick:Pat|Paddy;"
              "David:Dave|Davy;Steven|Stephen:Steve;Timothy:Tim;Kenneth:Ken|Kenny;Ronald:Ron|Ronnie;"
              "Donald:Don|Donnie;Gregory:Greg;Peter:Pete;Theodore:Ted|Teddy|Theo;Frederick:Fred|Freddie;"
              "Lawrence|Laurence:Larry;Barbara:Barb|Babs;Dorothy:Dot|Dottie;Christine|Christina:Chris|Tina;"
              "Jacqueline:Jackie;Samantha:Sam;Kimberly:Kim;Amanda:Mandy;Cynthia:Cindy;Sandra:Sandy;"
              "Joshua:Josh;Jeffrey|Geoffrey:Jeff;Jacob:Jake;Nancy:Nan")),
    "DE": dict(
        male="Jürgen,Jörg,Björn,Günter|Günther,Uwe,Klaus,Stefan|Stephan,Thomas,Andreas,Michael,"
             "Wolfgang,Hans,Peter,Dieter,Manfred,Frank,Matthias,Sebastian,Tobias,Lukas|Lucas,"
             "Maximilian,Felix,Johannes,Friedrich,Christian,Alexander,Jörn,Sören,Götz,Ralf|Ralph,"
             "Karl|Carl,Heinz,Horst,Rüdiger,Florian,Jonas",
        female="Sabine,Ursula,Petra,Monika,Andrea,Claudia,Susanne,Birgit,Käthe,Bärbel,Katharina,"
               "Lena,Hannah|Hanna,Sophie|Sofie,Stefanie|Stephanie,Elisabeth,Margarete,Jutta,"
               "Gisela,Renate,Ingrid,Brigitte,Anja,Heike,Silke,Jana,Lea,Mia,Jülide,Dörte",
        family="Müller,Schmidt,Schneider,Fischer,Weber,Meyer|Meier|Maier|Mayer,Wagner,Becker,"
               "Schulz,Hoffmann|Hofmann,Schäfer,Koch,Bauer,Richter,Klein,Wolf,Schröder,Neumann,"
               "Schwarz,Zimmermann,Braun,Krüger,Hartmann,Lange,Schmitt|Schmid,Werner,Krause,"
               "Lehmann,Köhler,Herrmann,König,Walter,Huber,Kaiser,Fuchs,Peters,Lang,Scholz,Möller,"
               "Weiß,Jung,Hahn,Schubert,Vogel,Friedrich,Keller,Günther,Frank,Berger,Winkler,Roth,"
               "Beck,Lorenz,Baumann,Franke,Albrecht,Schuster,Böhm,Winter,Kraus,Schumacher,Krämer,"
               "Vogt,Stein,Jäger,Otto,Sommer,Groß,Seidel,Heinrich,Brandt,Haas,Dietrich,Kühn,"
               "von Weizsäcker,von der Leyen,zu Guttenberg,Müller-Lüdenscheidt,Große-Brömer,Öztürk",
        nick=("Johannes:Hans|Jo;Wolfgang:Wolf;Friedrich:Fritz;Margarete:Grete;Elisabeth:Lisa|Liesl;"
              "Katharina:Kathi|Katja;Alexander:Alex;Christian:Chris;Stefanie|Stephanie:Steffi;"
              "Andreas:Andi;Michael:Michi;Thomas:Tom;Maximilian:Max;Tobias:Tobi;Sebastian:Basti")),
    "HISP": dict(
        male="José|Jose,Juan,Carlos,Luis|Luís,Francisco,Javier,Miguel,Ángel|Angel,Martín|Martin,"
             "Jesús|Jesus,Ramón|Ramon,Alejandro,Daniel,Fernando,Jorge,Ricardo,Eduardo,Manuel,Pedro,"
             "Antonio,Enrique,Ignacio,Guillermo,Roberto,Alberto,Rafael,Sergio,Raúl|Raul,Andrés|Andres,"
             "Héctor|Hector,Óscar|Oscar,Víctor|Victor,Rubén|Ruben,Diego,Pablo,Mario,Arturo,Hugo",
        female="María|Maria,Ana,Carmen,Sofía|Sofia,Lucía|Lucia,Guadalupe,Rosa,Isabel,Elena,Gabriela,"
               "Valeria,Camila,Ximena|Jimena,Verónica|Veronica,Patricia,Adriana,Mónica|Monica,Dolores,"
               "Concepción|Concepcion,Rosario,Beatriz,Alejandra,Daniela,Fernanda,Juana,Leticia,Silvia,"
               "Teresa,Yolanda,Paula,Marisol,Inés|Ines",
        family="García|Garcia,Rodríguez|Rodriguez,González|Gonzalez,Fernández|Fernandez,López|Lopez,"
               "Martínez|Martinez,Sánchez|Sanchez,Pérez|Perez,Gómez|Gomez,Martín|Martin,Jiménez|Jimenez,"
               "Ruiz,Hernández|Hernandez,Díaz|Diaz,Moreno,Muñoz|Munoz,Álvarez|Alvarez,Romero,Alonso,"
               "Gutiérrez|Gutierrez,Navarro,Torres,Domínguez|Dominguez,Vázquez|Vazquez|Vasquez,Ramos,"
               "Gil,Ramírez|Ramirez,Serrano,Blanco,Molina,Morales,Suárez|Suarez,Ortega,Delgado,Castro,"
               "Ortiz,Rubio,Marín|Marin,Sanz,Núñez|Nunez,Iglesias,Medina,Garrido,Cortés|Cortes,"
               "Castillo,Santos,Lozano,Guerrero,Cano,Prieto,Méndez|Mendez,Cruz,Flores,Herrera,Peña|Pena,"
               "Reyes,Aguilar,Vargas,Rojas,Mendoza,Chávez|Chavez,Espinoza|Espinosa,Salazar,"
               "de la Cruz,del Río|Rio,de los Santos,de la Fuente,de León|Leon,Ibáñez|Ibanez",
        nick=("Francisco:Paco|Pancho|Curro;José|Jose:Pepe|Chepe;Jesús|Jesus:Chucho|Chuy;"
              "Guadalupe:Lupe|Lupita;Ignacio:Nacho;Enrique:Quique;Dolores:Lola;"
              "Concepción|Concepcion:Concha|Conchita;Manuel:Manolo|Manny;Rosario:Charo;Eduardo:Lalo;"
              "Alejandro:Alex|Alejo;Antonio:Toño|Tony;Guillermo:Memo;Roberto:Beto;Alberto:Beto;"
              "Fernando:Nando;Isabel:Chabela|Isa;Ramón|Ramon:Moncho;Rafael:Rafa")),
    "PT": dict(
        male="João|Joao,José|Jose,Francisco,Antônio|António|Antonio,Luiz|Luís|Luis,Carlos,Paulo,"
             "Pedro,Lucas,Gabriel,Rafael,Mateus|Matheus,Marcos,Thiago|Tiago,Bruno,Rodrigo,Gustavo",
        female="Maria,Ana,Juliana,Fernanda,Patrícia|Patricia,Aline,Camila,Bruna,Larissa,Letícia|Leticia,"
               "Conceição|Conceicao,Beatriz,Mariana,Vitória|Vitoria,Raquel,Luana",
        family="da Silva,dos Santos,Oliveira,Souza|Sousa,Rodrigues,Ferreira,Alves,Pereira,Lima,Gomes,"
               "Costa,Ribeiro,Martins,Carvalho,Almeida,Lopes,Soares,Fernandes,Vieira,Barbosa,Rocha,"
               "Dias,Nascimento,Andrade,Moreira,Nunes,Marques,Machado,Mendes,Freitas,Cardoso,Ramos,"
               "Gonçalves|Goncalves,Santana,Teixeira,Araújo|Araujo,da Costa,de Souza",
        nick="Francisco:Chico;José|Jose:Zé|Ze;Antônio|António|Antonio:Toninho;Fernanda:Nanda;Eduardo:Dudu"),
    "NL": dict(
        male="Jan,Pieter|Peter,Johannes,Hendrik,Willem,Cornelis,Maarten,Joost,Bram,Sander,Ruud,Thijs,"
             "Daan,Sem,Gerrit,Jacobus,Dirk,Koen,Wouter,Bart,Stijn,Jeroen",
        female="Sanne,Anouk,Femke,Lotte,Eline,Lieke,Marieke,Annelies,Ingrid,Noor,Fleur,Maaike,"
               "Esther,Inge,Mieke,Joke,Anke",
        family="van der|den Berg,de Jong,de Vries,van Dijk|Dyk,Bakker,Janssen|Jansen,"
               "Visser,Smit,Meijer|Meyer,de Boer,Mulder,de Groot,Bos,Vos,Peters,Hendriks,van Leeuwen,"
               "Dekker,Brouwer,de Wit,Dijkstra|Dykstra,Smits,de Graaf,van der Meer,van der Linden,Kok,"
               "Jacobs,de Haan,Vermeulen,van den Heuvel,van der Veen,van den Broek,de Bruijn|Bruyn|Bruin,"
               "van der Heijden|Heyden,Schouten,van Beek,Willems,van Vliet,van de Ven,Hoekstra,"
               "Maas,Verhoeven,Koster,van Dam,van der Wal,Prins,Blom,Huisman,Peeters,Janssens,Maes,"
               "Mertens,Claes,Goossens,Wouters,de Smet,van 't~Hof",
        nick="Johannes:Jan|Hans;Cornelis:Kees;Willem:Wim;Hendrik:Henk;Pieter|Peter:Piet;Jacobus:Koos"),
    "FR": dict(
        male="Jean,Pierre,François|Francois,Jérôme|Jerome,Stéphane|Stephane,Frédéric|Frederic,"
             "Benoît|Benoit,Noël|Noel,Joël|Joel,Mathéo|Matheo,Gaël|Gael,Jean-Pierre,Jean-François,"
             "Louis,Nicolas,Alexandre,Christophe,Guillaume,Sébastien|Sebastien,Thierry,Olivier,"
             "Philippe,Didier,Dominique,Wilner,Jean-Baptiste,Mamadou,Moussa",
        female="Marie,Hélène|Helene,Élodie|Elodie,Céline|Celine,Chloé|Chloe,Zoé|Zoe,Anaïs|Anais,"
               "Léa|Lea,Marie-Claire,Sophie,Nathalie,Isabelle,Sandrine,Valérie|Valerie,Catherine,"
               "Élisabeth|Elisabeth,Joséphine|Josephine,Aurélie|Aurelie,Camille,Manon,Mireille,"
               "Fatou,Aminata,Nadège|Nadege,Guerline",
        family="Martin,Bernard,Dubois,Thomas,Robert,Richard,Petit,Durand,Leroy,Moreau,Simon,Laurent,"
               "Lefebvre|Lefèbvre,Michel,David,Bertrand,Roux,Vincent,Fournier,Morel,Girard,André|Andre,"
               "Lefèvre|Lefevre,Mercier,Dupont,Lambert,Bonnet,François|Francois,Legrand,Garnier,Faure,"
               "Rousseau,Blanc,Guérin|Guerin,Muller,Henry,Roussel,Nicolas,Perrin,Morin,Mathieu,"
               "Clément|Clement,Gauthier,Dumont,Fontaine,Chevalier,Robin,le Gall,le Roux,le Goff,"
               "Saint-Pierre,Jean-Baptiste,Pierre-Louis,Joseph,Étienne|Etienne,Desrosiers,Diallo,"
               "Ndiaye,Traoré|Traore,Coulibaly,de la Fontaine",
        nick=("Dominique:Dom;Alexandre:Alex;Frédéric|Frederic:Fred;Nicolas:Nico;Christophe:Chris;"
              "Catherine:Cathy;Élisabeth|Elisabeth:Babette;Joséphine|Josephine:Josie;Sébastien:Seb")),
    "NORDIC": dict(
        male="Björn,Søren|Sören,Jørgen|Jörgen,Øystein,Kåre,Lars,Anders,Nils,Mikael|Michael,Henrik,"
             "Erik|Eric,Magnus,Jón,Sigurður,Olav|Olaf,Pål|Paal,Mats,Rasmus,Åke",
        female="Åsa,Ingrid,Astrid,Sigrid,Freja|Freya,Maja|Maya,Linnéa|Linnea,Sofie,Mette,Kirsten,"
               "Guðrún,Þórunn,Birgitta,Karin,Sølvi,Märta",
        family="Andersson,Johansson,Karlsson|Carlsson,Nilsson,Eriksson,Larsson,Olsson,Persson,Svensson,"
               "Gustafsson,Hansen,Johansen,Olsen,Larsen,Andersen,Pedersen,Nielsen,Kristiansen,Jensen,"
               "Sørensen,Jørgensen,Østergaard,Søndergaard,Håkansson,Pålsson,Åberg,Lindqvist|Lindkvist,"
               "Nyström,Ångström,Bäckström,Öberg,Þórsson,Guðmundsdóttir,Jónsdóttir,Sigurðsson,Løvås",
        nick="Magnus:Mange;Kirsten:Kiki"),
    "TR": dict(
        male="Mehmet,Mustafa,Ahmet,Ali,Hüseyin,Hasan,İbrahim,İsmail,Osman,Yusuf,Murat,Emre,Burak,"
             "Gökhan,Çağlar,Şükrü,Ömer,Serkan",
        female="Ayşe,Fatma,Emine,Hatice,Zeynep,Elif,Özlem,Gülşen,Şule,Büşra,Merve,Esra,Gül",
        family="Yılmaz,Kaya,Demir,Şahin,Çelik,Yıldız,Yıldırım,Öztürk,Aydın,Özdemir,Arslan,Doğan,"
               "Kılıç,Aslan,Çetin,Kara,Koç,Kurt,Özkan,Şimşek,Polat,Korkmaz,Erdoğan,Güneş,Aksoy",
        nick=""),
    "PL": dict(
        male="Łukasz,Wojciech,Krzysztof,Grzegorz,Piotr,Tomasz,Paweł,Michał,Marcin,Jakub,Andrzej,"
             "Aleksander,Jarosław,Mirosław",
        female="Małgorzata,Agnieszka,Katarzyna,Anna,Magdalena,Joanna,Ewa,Żaneta,Dorota,Beata,"
               "Grażyna,Jadwiga",
        family="Nowak,Kowalski,Wiśniewski,Wójcik,Kowalczyk,Kamiński,Lewandowski,Zieliński,"
               "Szymański,Woźniak,Dąbrowski,Kozłowski,Jankowski,Mazur,Kwiatkowski,Krawczyk,"
               "Piotrowski,Grabowski,Nowakowski,Pawłowski,Michalski,Król,Wieczorek,Jabłoński,"
               "Wróbel,Nowicki,Majewski,Olszewski,Stępień,Malinowski,Brzęczyszczykiewicz",
        nick=("Małgorzata:Gosia;Katarzyna:Kasia;Aleksander:Olek;Wojciech:Wojtek;Agnieszka:Aga;"
              "Magdalena:Magda;Joanna:Asia;Tomasz:Tomek")),
    "AR": dict(
        male="Mohammed|Muhammad|Mohamed|Mohammad|Muhammed|Mohamad,Ahmed|Ahmad,Yusuf|Youssef|Yousef|Youcef|Yousif,"
             "Abdullah|Abdallah|Abdulla,Khaled|Khalid,Omar|Umar,Hussein|Husain|Hussain|Hossein,"
             "Hassan|Hasan,Ali,Ibrahim|Ebrahim,Mustafa|Moustafa|Mostafa,Mahmoud|Mahmud,Tariq|Tarek|Tarik,"
             "Walid|Waleed,Saeed|Said|Sayed,Karim|Kareem,Hamza|Hamzah,Jamal|Gamal,Nasser|Nasir,"
             "Rashid|Rachid|Rasheed,Samir|Sameer,Faisal|Faysal,Abdel~Rahman|Abdulrahman|Abd~al-Rahman",
        female="Fatima|Fatma|Fatimah,Aisha|Aicha|Ayesha|Aysha,Layla|Leila|Laila,Mariam|Maryam|Meriem,"
               "Noor|Nour|Nur,Zainab|Zaynab|Zeinab,Amina|Aminah,Khadija|Khadidja|Khadeeja,Huda|Houda,"
               "Salma,Rania,Yasmin|Yasmine|Jasmin,Hanan,Samira|Sameera,Nadia|Nadiya,Rana,Dina,Lina",
        family="Al Hassan|Hasan,Al Masri|Misri,El Amrani,Haddad,Khoury|Khouri|Khury,Nasser|Nasr,"
               "Saleh|Salih,Mansour|Mansur,Hamdan,Qasim|Kassem|Kasim|Qassem,Al Amin,Shaikh|Sheikh|Cheikh,"
               "Darwish|Darwiche,Ben Ali,Al Rashid|Rasheed,Abdel Aziz|Aziz,Ibrahim,Mahmoud|Mahmud,"
               "Hussein|Husein|Hussain,Yousef|Youssef|Yusuf,Suleiman|Sulaiman|Soliman,Al Tamimi,"
               "Al Zahrani,Bakri,Jaber|Jabir,Khalil,Farah,Hijazi|Hegazy,Awad|Awwad,Abu Bakr,Osman|Othman|Uthman",
        nick=""),
    "IN": dict(
        male="Rajesh,Suresh,Ramesh,Mahesh,Amit,Anil,Sunil,Vijay,Sanjay,Deepak,Arjun,Rahul,Rohit,"
             "Vikram,Aditya,Sandeep|Sandip,Pradeep|Pradip,Srinivas|Shrinivas|Sreenivas,Venkatesh,"
             "Manoj,Ravi,Ashok,Harpreet,Gurpreet,Mohammed|Mohammad|Mohd,Imran,Kiran,Naveen|Navin",
        female="Priya,Sunita,Anita,Kavita|Kavitha,Lakshmi|Laxmi,Pooja|Puja,Neha,Divya,Shreya|Sreya,"
               "Anjali,Deepika,Aishwarya,Geeta|Gita|Geetha,Meena,Rekha,Sangeeta|Sangita,Jaspreet,"
               "Simran,Swati|Swathi,Asha",
        family="Sharma,Patel,Kumar,Gupta,Reddy|Reddi,Iyer,Nair,Menon,Rao,Das,Banerjee|Banerji,"
               "Mukherjee|Mukherji,Chatterjee|Chatterji,Bhattacharya|Bhattacharjee,Agarwal|Aggarwal|Agrawal,"
               "Shah,Mehta,Joshi,Desai,Khan,Pillai|Pillay,Thakur,Yadav,Verma|Varma,Malhotra,Kapoor|Kapur,"
               "Chopra,Saxena,Pandey|Pande,Mishra|Misra,Tiwari|Tewari,Choudhury|Chowdhury|Chaudhary|Choudhary,"
               "Subramanian|Subramaniam,Krishnan,Naidu,Gill,Sandhu,Dhillon,Grewal",
        nick=""),
    "CN": dict(male="", female="", family=CN_FAMILY, nick=""),
    "KR": dict(
        male="Min-jun|Minjun|Min~Jun,Ji-hoon|Jihoon|Ji~Hoon|Jee-hoon,Dong-hyun|Donghyun|Tong-hyun,"
             "Sung-min|Seongmin|Sung~Min,Young-ho|Yeongho|Young~Ho,Jae-won|Jaewon,Hyun-woo|Hyunwoo,"
             "Seung-ho|Seungho,Jun-seo|Junseo,Tae-yang|Taeyang",
        female="Seo-yeon|Seoyeon|Suh-yeon,Ji-woo|Jiwoo,Soo-jin|Sujin|Soo~Jin,Hye-jin|Hyejin,"
               "Eun-ji|Eunji,Min-seo|Minseo,Ha-eun|Haeun,Yu-na|Yuna,Ji-yeon|Jiyeon,Seo-hyun|Seohyun",
        family="Kim|Gim,Lee|Yi|Rhee|I,Park|Pak|Bak,Choi|Choe,Jung|Jeong|Chung,Kang|Gang,Cho|Jo,"
               "Yoon|Yun,Jang|Chang,Lim|Im,Han,Oh|O,Seo|Suh,Shin|Sin,Kwon|Gwon,Hwang,Ahn|An,Song,"
               "Jeon|Jun|Chun,Hong",
        nick=""),
    "JP": dict(
        male="Hiroshi,Takashi,Kenji,Akira,Daisuke,Takumi,Haruto,Shōta|Shota|Shouta,Yūki|Yuki|Yuuki,"
             "Ryūji|Ryuji|Ryuuji,Kōji|Koji|Kohji,Jun'ichi|Junichi|Jun-ichi,Sōta|Sota|Souta,Makoto",
        female="Yumiko,Haruka,Sakura,Aiko,Emi,Misaki,Naoko,Keiko,Yūko|Yuko|Yuuko,Yōko|Yoko|Youko,"
               "Kyōko|Kyoko|Kyouko,Mayumi,Ayaka,Rin",
        family="Satō|Sato|Satoh|Satou,Suzuki,Takahashi,Tanaka,Watanabe,Itō|Ito|Itoh|Itou,Yamamoto,"
               "Nakamura,Kobayashi,Katō|Kato|Katoh|Katou,Yoshida,Yamada,Sasaki,Yamaguchi,Matsumoto,"
               "Inoue,Kimura,Hayashi,Shimizu,Saitō|Saito|Saitoh,Ōta|Ota|Ohta|Oota,Ōno|Ono|Ohno,"
               "Kōno|Kono|Kohno,Gotō|Goto|Gotoh,Endō|Endo|Endoh",
        nick=""),
    "VN": dict(
        male="An,Anh,Bảo|Bao,Dũng|Dung,Hùng|Hung,Long,Minh,Nam,Quang,Tuấn|Tuan,Hải|Hai,Huy,Khánh|Khanh,"
             "Thắng|Thang,Phúc|Phuc,Đức|Duc",
        female="Anh,Hương|Huong,Lan,Linh,Mai,Ngọc|Ngoc,Phương|Phuong,Thảo|Thao,Trang,Hà|Ha,Thu,Vy,"
               "Hạnh|Hanh,Nhung,Yến|Yen",
        family="Nguyễn|Nguyen,Trần|Tran,Lê|Le,Phạm|Pham,Hoàng|Hoang,Huỳnh|Huynh,Phan,Vũ|Võ|Vu|Vo,"
               "Đặng|Dang,Bùi|Bui,Đỗ|Do,Hồ|Ho,Ngô|Ngo,Dương|Duong,Lý|Ly",
        nick=""),
    "PH": dict(
        male="Juan,Jose,Mark~Anthony,John~Paul,Jerome,Jonathan,Christian,Ramon,Rodrigo,Roberto,"
             "Jericho,Rommel,Arnel,Reynaldo|Reynold,Emmanuel,Joel",
        female="Maria|Ma.,Angelica,Rhea,Michelle,Marites,Lorna,Rosario,Glenda,Jocelyn,Kristine|Christine,"
               "Mary~Grace,Jennylyn,Maricel|Marisol,Analyn,Cherry,Lovely",
        family="Santos,Reyes,Cruz,Bautista,Ocampo,Garcia,Mendoza,Torres,Tomas,Andrade,Castillo,Flores,"
               "Villanueva,Ramos,Castro,Rivera,Aquino,Navarro,Salazar,Mercado,Dela Cruz,De Leon,"
               "De Guzman,Dela Rosa,Del Rosario,Soriano,Lim,Tan,Go,Sy,Macaraeg,Dimaculangan,Pangilinan",
        nick="Roberto:Bobby|Bert;Jose:Pepe;Jocelyn:Joy;Maria:Ma.|Mia"),
    "AF": dict(
        male="Oluwaseun,Chukwuemeka,Chinedu,Oluwatobi,Babatunde,Obinna,Emeka,Tunde,Kwame,Kofi,Kwabena,"
             "Yaw,Kamau,Otieno,Kiprop,Abebe,Dawit,Yonas,Biruk,Samuel,Emmanuel,Ibrahim,Musa",
        female="Ngozi,Adaeze,Folake,Funmilayo,Ifeoma,Yetunde,Abimbola,Akosua,Ama,Abena,Wanjiru,Njeri,"
               "Wambui,Chebet,Meron,Selam,Tigist,Mekdes,Hanna,Blessing,Grace,Amina",
        family="Okafor,Okonkwo,Adeyemi,Adebayo,Ogunleye,Eze,Nwosu,Obi,Balogun,Okeke,Bello,Abubakar,"
               "Mensah,Owusu,Boateng,Asante,Osei,Agyeman,Appiah,Darko,Kamau,Mwangi,Otieno,Odhiambo,"
               "Kiprotich,Mutua,Njoroge,Tesfaye,Girma,Bekele,Tadesse,Alemu,Kebede,Haile",
        nick="Oluwaseun:Seun;Chukwuemeka:Emeka;Oluwatobi:Tobi;Babatunde:Tunde;Funmilayo:Funmi"),
    "SL": dict(male="", female="", family="", nick=(
        "Aleksandr|Alexander|Aleksander|Alexandr|Oleksandr|Olexandr:Sasha|Sanya|Shura;"
        "Aleksei|Alexey|Aleksey|Alexei|Aleksej:Alyosha|Lyosha;Dmitrii|Dmitry|Dmitriy|Dmitri|Dmitrij|Dmytro:Dima;"
        "Mikhail|Michail|Mykhailo:Misha;Ivan:Vanya;Nikolai|Nikolay|Mykola:Kolya;"
        "Vladimir|Volodymyr|Wladimir:Volodya|Vova;Pavel:Pasha;Evgenii|Evgeny|Yevgeny|Evgeniy|Jewgeni|Yevhen|Ievgen:Zhenya;"
        "Sergei|Sergey|Serhii|Sergej|Serguei|Serhiy:Seryozha|Serezha;Natalia|Natalya|Nataliya|Natalija:Natasha;"
        "Tatiana|Tatyana|Tetiana|Tatjana|Tetyana:Tanya;Elena|Yelena|Olena|Jelena:Lena;Olga:Olya;"
        "Anastasia|Anastasiya|Anastasiia:Nastya;Mariia|Mariya|Maria:Masha;Iuliia|Yuliya|Yulia|Julija:Yulya;"
        "Ekaterina|Yekaterina|Katerina|Kateryna:Katya;Irina|Iryna:Ira;Svetlana|Svitlana:Sveta;"
        "Kseniia|Kseniya|Ksenia:Ksyusha;Konstantin:Kostya;Viktoriia|Viktoriya|Victoria:Vika")),
}

PARTICLES = {"van", "der", "den", "de", "del", "della", "la", "las", "los", "da", "das", "do",
             "dos", "di", "du", "des", "le", "al", "el", "ter", "ten", "von", "zu", "bin", "ibn",
             "ben", "abu", "dela", "'t", "van 't"}

# Surname generators for a long tail of rare names, per origin.
TAIL = {
    "EN": ("Ash,Brad,Craw,Fair,Hol,Kings,Lang,Mar,Pem,Ral,Stan,Thorn,Wel,Whit,Brack,Cald,Dun,Els,"
           "Gid,Hart,Ketter,Lid,Mort,Nor,Pad,Rad,Shel,Tat,Wad,Yar",
           "ford,ley,ton,wood,by,well,more,ham,field,ridge,ington,worth,combe,shaw,stead,wick"),
    "DE": ("Ober,Unter,Stein,Berg,Hof,Wald,Kirch,Brunn,Rosen,Lind,Eich,Grün,Schön,Mühl,Hoch,Tann,"
           "Bren,Kolb,Lauter,Rüt,Seel,Wies,Zell,Hölz,Strau,Käs",
           "mann,er,berger,hauser,meier,huber,bach,feld,ling,stätter,müller,hofer,bichler,le"),
    "HISP": ("Albor,Barre,Cabe,Escu,Figue,Galle,Lare,Mante,Olive,Pache,Quinte,Sepúl,Tole,Urre,"
             "Villa,Zamo,Benav,Carde,Ech,Iri,Lucu,Mora,Tova,Valde",
             "nos,da,llo,ra,do,ro,nte,ga,veda,jo,rrea,ndo,rte,ñez,les,dés"),
    "FR": ("Beau,Bois,Cham,Des,Font,Grand,Haut,Lach,Mont,Pel,Roch,Vaill,Ver,Bou,Cour,Gir,Lar,Ma",
           "champ,lieu,ville,mont,bert,court,ain,ard,eau,ier,ot,et,elle,ès"),
    "NL": ("Bos,Hoog,Kerk,Linde,Molen,Oost,Rijn,Vlie,Wester,Brink,Dijk,Hout",
           "huis,man,stra,hof,veld,berg,land,sma,inga,ink,kamp,broek"),
    "IN": ("Adhi,Bala,Chandra,Deva,Gopala,Hari,Jaya,Krishna,Mani,Nara,Padma,Rama,Siva,Venu,Vira",
           "krishnan,murthy,swamy,raman,nathan,sekar,pal,kanth,rajan,prasad,ppa,dasan"),
    "AF": ("Ade,Ola,Oke,Chi,Nwa,Ogu,Asa,Kwa,Mwa,Onu,Ije,Ama", "yemi,nde,ke,bueze,chukwu,ndu,nte,si,ngi,ru,kwe"),
    "PT": ("Albu,Bote,Calda,Fontou,Lacer,Meire,Queir,Siquei,Vascon,Brag", "querque,lho,s,ra,da,oz,celos,ra,nça"),
}

SUFFIXES = ("JR", "SR", "II", "III")

# Common full names used for namesakes (given;middle;family), by origin.
COMMON_NAMES = {
    "CN": ["Wei;;Wang", "Na;;Li", "Wei;;Zhang", "Yang;;Liu", "Fang;;Wang", "Wei;;Li", "Min;;Zhang",
           "Jing;;Chen", "Jun;;Wang", "Lei;;Li", "Yan;;Liu", "Tao;;Zhang"],
    "HISP": ["María;;García López", "María;;García", "José;;Hernández", "Juan;;Rodríguez",
             "María;;González", "José Luis;;Martínez", "Juan Carlos;;Pérez", "Ana;;Sánchez",
             "Carlos;;López García", "Guadalupe;;Hernández", "Miguel;;Ramírez"],
    "AR": ["Mohammed;;Ali", "Ahmed;;Hassan", "Mohamed;;Ibrahim", "Mohammed;;Al Hassan",
           "Fatima;;Ali", "Ali;;Hussein", "Mohammed;;Ahmed", "Omar;;Saleh", "Khaled;;Mahmoud"],
    "EN": ["John;;Smith", "David;;Jones", "Michael;;Brown", "James;;Williams", "Robert;;Smith",
           "Mary;;Smith", "Sarah;;Jones", "John;Paul;Murphy", "William;;Taylor"],
    "IN": ["Rajesh;;Kumar", "Amit;;Sharma", "Sunita;;Devi", "Priya;;Singh", "Mohammed;;Khan",
           "Rahul;;Kumar", "Anil;;Patel", "Sanjay;;Gupta"],
    "VN": ["Anh;Van;Nguyen", "Lan;Thi;Nguyen", "Minh;Van;Tran", "Linh;Thi;Nguyen", "Hung;Van;Le"],
    "KR": ["Min-jun;;Kim", "Ji-hoon;;Lee", "Seo-yeon;;Kim", "Soo-jin;;Park"],
    "PH": ["Maria;;Santos", "Jose;;Reyes", "Maria;;Dela Cruz", "Juan;;Dela Cruz"],
    "SL": ["Ivan;;Ivanov", "Sergei;;Smirnov", "Olga;;Ivanova", "Aleksandr;;Ivanov"],
}

ORIGIN_NATS = {
    "EN": [("GBR", 50), ("IRL", 12), ("AUS", 16), ("NZL", 6), ("ZAF", 6), ("JAM", 5), ("TTO", 5)],
    "DE": [("DEU", 80), ("AUT", 13), ("CHE", 7)],
    "HISP": [("MEX", 45), ("COL", 10), ("ESP", 8), ("ARG", 5), ("PER", 5), ("VEN", 7), ("GTM", 5),
             ("SLV", 4), ("HND", 4), ("CUB", 5), ("CHL", 2)],
    "PT": [("BRA", 80), ("PRT", 20)],
    "NL": [("NLD", 70), ("BEL", 30)],
    "FR": [("FRA", 55), ("BEL", 8), ("CHE", 5), ("HTI", 17), ("SEN", 6), ("CIV", 5), ("MLI", 4)],
    "NORDIC": [("SWE", 35), ("NOR", 25), ("DNK", 27), ("ISL", 6), ("FIN", 7)],
    "TR": [("TUR", 100)],
    "PL": [("POL", 100)],
    "AR": [("EGY", 14), ("SYR", 13), ("IRQ", 10), ("JOR", 8), ("LBN", 10), ("MAR", 10), ("DZA", 7),
           ("SAU", 8), ("ARE", 4), ("SDN", 5), ("YEM", 4), ("AFG", 5), ("PSE", 2)],
    "IN": [("IND", 88), ("NPL", 6), ("LKA", 6)],
    "CN": [("CHN", 72), ("TWN", 12), ("HKG", 11), ("SGP", 5)],
    "KR": [("KOR", 100)],
    "JP": [("JPN", 100)],
    "VN": [("VNM", 100)],
    "PH": [("PHL", 100)],
    "AF": [("NGA", 40), ("GHA", 20), ("KEN", 15), ("ETH", 13), ("ERI", 6), ("CMR", 6)],
    "SL": [("RUS", 50), ("UKR", 35), ("BLR", 8), ("KAZ", 7)],
}
ORIGIN_WEIGHTS = {"HISP": 16, "EN": 12, "IN": 11, "CN": 10, "PH": 7, "AR": 7, "FR": 6, "DE": 5,
                  "SL": 4, "KR": 4, "JP": 3, "VN": 3, "PT": 3, "AF": 3, "NL": 2, "NORDIC": 2,
                  "TR": 2, "PL": 2}
REFUGEE_P = {"SYR": 0.18, "IRQ": 0.10, "AFG": 0.25, "SDN": 0.15, "YEM": 0.12, "VEN": 0.08,
             "UKR": 0.06, "ERI": 0.20, "PSE": 0.30, "HTI": 0.04, "CUB": 0.05, "ETH": 0.05}
UNCERTAIN_DOB_NATS = {"AFG", "SDN", "ERI", "ETH", "YEM", "IRQ", "SYR", "PSE"}
SECOND_NAT = {"TUR": ["DEU", "NLD", "FRA"], "IND": ["GBR", "AUS"], "PAK": ["GBR"], "DZA": ["FRA"],
              "MAR": ["FRA", "ESP", "NLD", "BEL"], "MEX": ["ESP"], "ARG": ["ITA", "ESP"],
              "BRA": ["PRT", "ITA"], "COL": ["ESP"], "VEN": ["ESP", "ITA", "PRT"], "LBN": ["FRA", "AUS"],
              "CHN": ["SGP"], "HKG": ["GBR"], "IRL": ["GBR"], "GBR": ["IRL", "AUS", "NZL"],
              "DEU": ["TUR", "POL", "ITA", "GRC"], "POL": ["DEU", "GBR"], "RUS": ["ISR", "DEU"],
              "UKR": ["POL", "ISR"], "HTI": ["FRA"], "PHL": ["AUS"], "NGA": ["GBR"], "JAM": ["GBR"]}
SECOND_NAT_DEFAULT = ["GBR", "FRA", "ITA", "ESP", "PRT", "IRL", "AUS", "ISR", "GRC", "POL", "NLD"]
DOC_FORMATS = {"DEU": "G8", "D": "G8", "AUT": "LDDDDDDD", "CHE": "LDDDDDDD", "GBR": "DDDDDDDDD",
               "IRL": "LLDDDDDDD", "AUS": "LLDDDDDDD", "NZL": "LLDDDDDD", "FRA": "DDLLDDDDD",
               "ESP": "LLLDDDDDD", "MEX": "LDDDDDDDD", "BRA": "LLDDDDDD", "NLD": "LLAAAAAAD",
               "BEL": "LLDDDDDDD", "CHN": "EDDDDDDDD", "HKG": "KDDDDDDDD", "TWN": "DDDDDDDDD",
               "IND": "LDDDDDDD", "PHL": "PDDDDDDDL", "KOR": "MDDDDDDDD", "JPN": "LLDDDDDDD",
               "TUR": "UDDDDDDDD", "POL": "LLDDDDDDD", "RUS": "DDDDDDDDD", "UKR": "LLDDDDDD",
               "VNM": "LDDDDDDD", "NGA": "ADDDDDDDD"}
DOC_TYPE_VARIANTS = {"P": ["PP", "PO"], "I": ["ID"], "ID": ["I"], "C": ["C1", "CR"], "AC": ["A"]}
GERMAN_ALNUM = "CFGHJKLMNPRTVWXYZ0123456789"
UPPER = "ABCDEFGHIJKLMNPRSTUVWXYZ"   # no O, Q in generated letter positions
HOUR_W = [1, .6, .4, .3, .4, .8, 1.6, 2.6, 3.4, 3.8, 4, 4, 4, 4, 4, 3.9, 3.8, 3.6, 3.2, 2.8, 2.4,
          2, 1.6, 1.2]
ORIGIN_MIDDLE = {"EN": .55, "DE": .35, "NL": .5, "FR": .45, "NORDIC": .35, "HISP": .3, "PT": .35,
                 "PL": .15, "TR": .15, "AF": .3, "IN": .12, "AR": .4, "SL": .3, "VN": .85,
                 "PH": .85, "CN": 0.0, "KR": 0.0, "JP": 0.0}
ORIGIN_MERGE = {"EN": .12, "HISP": .8, "DE": .7, "NL": .6, "FR": .6, "NORDIC": .6, "PT": .6,
                "PL": .6, "TR": .6, "AF": .3, "IN": .5, "AR": .4, "SL": .2, "VN": .3, "PH": .15}
WIFE_TAKES = {"EN": .7, "DE": .7, "NL": .6, "PL": .8, "NORDIC": .6, "FR": .6, "PH": .9, "HISP": .1,
              "PT": .3, "AR": .05, "CN": .02, "KR": .0, "VN": .0, "TR": .9, "IN": .6, "AF": .6,
              "SL": .8, "JP": .95}


def parse_pool(spec: str) -> list:
    """'a|b c,d' -> [[('a','b'),('c',)], [('d',)]] : entries of tokens of variants."""
    out = []
    for entry in [e.strip() for e in spec.split(",") if e.strip()]:
        toks = []
        for tok in entry.split(" "):
            toks.append(tuple(v.replace("~", " ") for v in tok.split("|")))
        out.append(toks)
    return out


def parse_nicks(spec: str) -> dict:
    m: dict = {}
    for item in [x for x in spec.split(";") if x.strip()]:
        formal, nicks = item.split(":")
        formals = formal.split("|")
        nl = nicks.split("|")
        for f in formals:
            k = strip_marks(f).upper().rstrip(".")
            for n in nl:
                m.setdefault(k, [])
                if n not in m[k]:
                    m[k].append(n)
        for n in nl:
            k = strip_marks(n).upper().rstrip(".")
            m.setdefault(k, [])
            for f in formals[:1]:
                if f not in m[k]:
                    m[k].append(f)
    return m


_ALT_CACHE: dict = {}


def alt_forms(lex: tuple) -> tuple:
    r = _ALT_CACHE.get(lex)
    if r is None:
        latin, native = [], []
        for v in lex:
            if is_latin(v):
                for w in (v, icao_case(v), strip_marks(v)):
                    if w not in latin:
                        latin.append(w)
            elif v not in native:
                native.append(v)
        r = (tuple(latin), tuple(native))
        _ALT_CACHE[lex] = r
    return r


def is_particle(s: str) -> bool:
    return s.lower() in PARTICLES


def multipart_candidates(fam: str) -> list:
    """Other ways the same multi-part family name gets recorded."""
    if not fam:
        return []
    words = fam.replace("-", " ").split()
    out = []
    if len(words) >= 2:
        core = [w for w in words if not is_particle(w)]
        out += [" ".join(words), "-".join(words), "".join(words)]
        if core and len(core) < len(words):
            out.append(" ".join(core))
            glued, run = [], ""
            for w in words:
                if is_particle(w):
                    run += w
                else:
                    glued.append(run + w)
                    run = ""
            if run:
                glued.append(run)
            out.append(" ".join(glued))
        if len(core) >= 2:
            out.append(core[0])
            out.append(core[-1])
    if "'" in fam:
        out += [fam.replace("'", ""), fam.replace("'", " ")]
    res = []
    for c in out:
        c = " ".join(c.split()) if "-" not in c else c
        if c and c != fam and c not in res:
            res.append(c)
    return res


class Person:
    __slots__ = ("pid", "origin", "sex", "given", "middle", "fam", "joiner", "suffix", "spos",
                 "dob", "nat", "docc", "doct", "docn", "style", "merge", "status", "origin_nat",
                 "unit", "rel", "base", "sc", "scheme", "maiden", "age", "sexrec")

    def fam_str(self) -> str:
        return self.joiner.join(t[1] for t in self.fam)


def render_names(p: Person, g_toks, m_toks, fam: str, merge: bool):
    g = " ".join(g_toks)
    m = " ".join(m_toks)
    if merge and m:
        g = (g + " " + m) if g else m
        m = ""
    f = fam
    if p.suffix:
        if p.spos == "fam":
            f = (f + " " + p.suffix) if f else p.suffix
        elif p.spos == "giv":
            g = (g + " " + p.suffix) if g else p.suffix
    st = p.style
    return style(g, st), style(m, st), style(f, st)


def initials(tok: str, dot: str) -> str:
    """'Marie-Claire' -> 'M-C', 'Abdel Rahman' -> 'A R' (each with an optional dot)."""
    out, start = [], True
    for c in tok:
        if c in " -":
            out.append(c)
            start = True
        elif start and c.isalpha():
            out.append(c + dot)
            start = False
    return "".join(out)


def fmt_dob(d) -> str:
    if d is None:
        return ""
    return "%04d-%02d-%02d" % d


def parse_dob(s: str):
    if not s:
        return None
    return (int(s[0:4]), int(s[5:7]), int(s[8:10]))


def perm40(x: int, keys: tuple) -> int:
    """A keyed bijection on 40-bit integers (4-round Feistel)."""
    L, R = x >> 20, x & 0xFFFFF
    for k in keys:
        f = ((R * 0x9E3779B1) ^ k) & 0xFFFFFFFF
        f ^= f >> 15
        f = (f * 0x85EBCA6B) & 0xFFFFFFFF
        f ^= f >> 13
        L, R = R, L ^ (f & 0xFFFFF)
    return (L << 20) | R


def csv_line(fields) -> str:
    out = []
    for s in fields:
        if '"' in s or "," in s or "\n" in s or "\r" in s:
            s = '"' + s.replace('"', '""') + '"'
        out.append(s)
    return ",".join(out) + "\n"


def iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Buckets:
    """External sort by time: lines go to time buckets, each sorted at the end."""

    def __init__(self, tmpdir: str, name: str, t0: int, t1: int, n: int):
        self.t0, self.span, self.n = t0, max(1, t1 - t0 + 1), n
        self.paths = [os.path.join(tmpdir, "%s.%04d" % (name, i)) for i in range(n)]
        self.files = [open(p, "w", encoding="utf-8", newline="") for p in self.paths]

    def add(self, t: int, rid: str, line: str):
        b = (t - self.t0) * self.n // self.span
        b = 0 if b < 0 else (self.n - 1 if b >= self.n else b)
        self.files[b].write("%011d%s\t%s" % (t, rid, line))

    def finish(self, out_path: str):
        with open(out_path, "w", encoding="utf-8", newline="") as out:
            out.write(csv_line(COLUMNS))
            for f, p in zip(self.files, self.paths):
                f.close()
                with open(p, encoding="utf-8", newline="") as fh:
                    lines = fh.readlines()
                lines.sort()
                out.writelines(ln.split("\t", 1)[1] for ln in lines)
                os.remove(p)


class Generator:
    def __init__(self, entries: int, seed: int = 1, noise: str = "moderate", only: str | None = None,
                 no_empty: bool = False, rates: dict | None = None, pop: dict | None = None,
                 start: str = "2026-03-02", persons: bool = False):
        if noise not in PRESETS:
            raise SystemExit("unknown --noise %r (light|moderate|heavy)" % noise)
        self.n_entries = int(entries)
        self.seed, self.noise, self.only, self.no_empty = seed, noise, only, no_empty
        self.want_persons = persons
        self.rng = random.Random(seed)
        self.pop = dict(POP_DEFAULTS)
        for k, v in (pop or {}).items():
            if k not in self.pop:
                raise SystemExit("unknown --pop key %r; known: %s" % (k, ", ".join(self.pop)))
            self.pop[k] = float(v)
        self.rates = dict(PRESETS[noise])
        for k, v in (rates or {}).items():
            if k not in self.rates:
                raise SystemExit("unknown kind %r in --rate; known: %s" % (k, ", ".join(KINDS)))
            self.rates[k] = float(v)
        if only is not None:
            if only not in KINDS:
                raise SystemExit("unknown --only kind %r; known: %s" % (only, ", ".join(KINDS)))
            if no_empty and only in ("dob_missing", "sex_missing"):
                raise SystemExit("--only %s cannot be combined with --no-empty" % only)
            self.rates = {k: (1.0 if k == only else 0.0) for k in KINDS}
        if no_empty:
            self.rates["dob_missing"] = 0.0
            self.rates["sex_missing"] = 0.0
        for g in ("middle", "dob", "sex", "doc"):
            tot = sum(self.rates[k] for k in KINDS if KIND_GROUP[k] == g and k not in SHARED_SLOT)
            tot += sum(max(0.0, self.rates[k] - self.rates[o]) for k, o in SHARED_SLOT.items()
                       if KIND_GROUP[k] == g)
            if tot > 1.0 + 1e-9:
                raise SystemExit("rates of exclusive group %r sum to %.3f > 1" % (g, tot))
        self.group_kinds = {g: [k for k in KINDS if KIND_GROUP[k] == g and self.rates[k] > 0]
                            for g in ("middle", "dob", "sex", "doc")}
        self.stats = {k: [0, 0] for k in KINDS}       # eligible, applied
        self.counts = {"entries": 0, "exits": 0, "truth": 0, "unmatched_exits": 0,
                       "prior_exits": 0, "entries_without_exit": 0, "persons": 0, "units": 0,
                       "only_dropped_exits": 0, "apply_failed": 0, "slot_conflicts": 0}
        self.unit_types: dict = {}
        self._pid = 0
        self.t0 = calendar.timegm(time.strptime(start, "%Y-%m-%d"))
        self.start_date = start
        self.t_end = self.t0 + int(self.pop["days"] * 86400)
        self.cutoff = self.t_end + int(self.pop["tail_days"] * 86400)
        y, m, d = (int(x) for x in start.split("-"))
        self.ref = (y, m, d)
        self._setup_tables()

    # ---------------------------------------------------------------- tables
    def _setup_tables(self):
        rng = random.Random(self.seed * 7919 + 17)
        self.keys_e = tuple(rng.getrandbits(32) for _ in range(4))
        self.keys_x = tuple(rng.getrandbits(32) for _ in range(4))
        a = rng.sample(range(100, 9999), 90)
        b = rng.sample(range(100, 9999), 90)
        self.cross_a = ["%04d" % x for x in a]
        self.cross_b = ["%04d" % x for x in b]
        self.cross_cw = self._cw([1.0 / (i + 2) ** 0.9 for i in range(90)])
        self.origins = list(ORIGIN_WEIGHTS)
        self.origin_cw = self._cw([ORIGIN_WEIGHTS[o] for o in self.origins])
        self.nat_tab = {o: ([n for n, _ in v], self._cw([w for _, w in v])) for o, v in ORIGIN_NATS.items()}
        self.hh_types = [t for t, _ in HOUSEHOLD_TYPES]
        self.hh_cw = self._cw([w for _, w in HOUSEHOLD_TYPES])
        self.hour_cw = self._cw(HOUR_W)
        self.nicks = {o: parse_nicks(POOLS[o]["nick"]) for o in POOLS}
        self.pools = {}
        for o, spec in POOLS.items():
            if o in ("SL", "CN"):
                continue
            self.pools[o] = {k: self._weighted(parse_pool(spec[k])) for k in ("male", "female", "family")}
        # Chinese family names: one token each, four aligned spellings
        self.pools["CN"] = {"family": self._weighted([[tuple(e.split("|"))] for e in CN_FAMILY.split(",")])}
        # Slavic: Russian and Ukrainian pools from Cyrillic
        def cyr_pool(spec, ukr, female=False):
            out = []
            for e in spec.split(","):
                cyr, *extra = e.split("|")
                if female:
                    cyr = _ru_female(cyr)
                out.append([cyr_lexeme(cyr, ukr, tuple(extra))])
            return self._weighted(out)
        self.pools["RU"] = {"male": cyr_pool(RU_MALE, False), "female": cyr_pool(RU_FEMALE, False),
                            "family": cyr_pool(RU_FAMILY, False),
                            "family_f": cyr_pool(RU_FAMILY, False, True)}
        self.pools["UA"] = {"male": cyr_pool(UA_MALE, True), "female": cyr_pool(UA_FEMALE, True),
                            "family": cyr_pool(UA_FAMILY, True),
                            "family_f": cyr_pool(UA_FAMILY, True, True)}
        self.ru_stems = RU_STEMS.split(",")
        self.ru_tails = RU_TAILS.split(",")
        self.tail = {o: (a.split(","), b.split(",")) for o, (a, b) in TAIL.items()}
        # lexeme lookup for the common (namesake) names
        self.lookup: dict = {}
        for o, pools in self.pools.items():
            for pool in pools.values():
                for entry in pool[0]:
                    for lex in entry:
                        for v in lex:
                            self.lookup.setdefault((o, strip_marks(v).upper()), lex)
        self.male_keys = set()
        for o, pools in self.pools.items():
            if "male" in pools:
                for entry in pools["male"][0]:
                    for lex in entry:
                        for v in lex:
                            self.male_keys.add(strip_marks(v).upper())

    @staticmethod
    def _cw(ws):
        out, s = [], 0.0
        for w in ws:
            s += w
            out.append(s)
        return out

    def _weighted(self, items):
        return (items, self._cw([1.0 / (i + 4) ** 0.85 for i in range(len(items))]))

    def pick(self, items, cw):
        return items[bisect.bisect_right(cw, self.rng.random() * cw[-1])]

    def pickw(self, pool):
        return self.pick(pool[0], pool[1])

    # ---------------------------------------------------------------- people
    def new_person(self, origin: str, sex: str, age_days: int, unit: int, rel: str,
                   nat: str | None = None) -> Person:
        rng = self.rng
        p = Person()
        self._pid += 1
        p.pid = self._pid
        p.origin, p.sex, p.unit, p.rel = origin, sex, unit, rel
        p.sc = None
        p.suffix, p.spos = None, None
        p.maiden = None
        p.age = age_days
        if nat is None:
            nat = self.pick(*self.nat_tab[origin])
        p.nat = nat
        p.status, p.origin_nat = None, nat
        # style of this person's records: machine-read, keyed upper case, keyed mixed case
        r = rng.random()
        p.style = "mrz" if r < 0.52 else ("upper" if r < 0.88 else "title")
        # romanisation scheme of this person's documents
        if origin == "SL":
            p.scheme = self.pick([0, 1, 2, 3, 4], [0.5, 0.75, 0.9, 0.95, 1.0])
        elif origin == "CN":
            p.scheme = {"CHN": 0, "TWN": 1, "HKG": 2, "SGP": 0}.get(nat, 0)
            if rng.random() < 0.1:
                p.scheme = rng.randrange(3)
        else:
            p.scheme = -1
        p.merge = True if p.style == "mrz" else (rng.random() < ORIGIN_MERGE.get(origin, 0.5))
        p.given = [self.token(origin, self.draw_given_lex(origin, sex, nat), p)]
        if origin in ("HISP", "PT", "FR") and rng.random() < 0.05:
            p.given.append(self.token(origin, self.draw_given_lex(origin, sex, nat), p))
        p.middle = []
        p.fam = []
        p.joiner = " "
        self.set_family(p, self.draw_family(origin, sex, nat))
        if rng.random() < ORIGIN_MIDDLE.get(origin, 0.2):
            p.middle = [self.token(origin, x, p) for x in self.draw_middle(origin, sex, nat)]
        # date of birth
        p.dob = self.dob_from_age(age_days)
        unc = 0.10 if nat in UNCERTAIN_DOB_NATS else 0.003
        if rng.random() < unc:
            r = rng.random()
            y = p.dob[0]
            p.dob = (y, 1, 1) if r < 0.5 else ((y, 0, 0) if r < 0.8 else (y, p.dob[1], 0))
        if not self.no_empty and rng.random() < 0.0006:
            p.dob = None
        # recorded sex: X on some documents, unknown on a few
        r = rng.random()
        p.sexrec = "X" if r < 0.004 else ("" if (r < 0.005 and not self.no_empty) else sex)
        if self.only == "nat_code_variant":
            p.nat = p.origin_nat = nat = "DEU"       # --only: every traveller holds a German document
        if self.only == "dob_day_month_swap" and p.dob and not (0 < p.dob[2] <= 12 and p.dob[1] != p.dob[2]):
            y, mo = p.dob[0], p.dob[1] or 6
            p.dob = (y, mo, rng.choice([d for d in range(1, 13) if d != mo]))
        # refugee / stateless status
        if nat != "DEU" and (rng.random() < REFUGEE_P.get(nat, 0.002) or self.only == "nat_status"):
            r = rng.random()
            p.status = "XXA" if (nat == "PSE" and r < 0.7) or r < 0.05 else ("XXC" if r < 0.15 else "XXB")
        self.set_document(p)
        return p

    def dob_from_age(self, age_days: int):
        t = self.t0 - max(1, age_days) * 86400
        tm = time.gmtime(t)
        return (tm.tm_year, tm.tm_mon, tm.tm_mday)

    def draw_age(self) -> int:
        r = self.rng.random()
        lo, hi = ((0, 18) if r < 0.11 else (18, 31) if r < 0.33 else (31, 46) if r < 0.61
                  else (46, 61) if r < 0.84 else (61, 88))
        return int(self.rng.uniform(lo, hi) * 365.25)

    def token(self, origin: str, lex: tuple, p: Person) -> list:
        """[lexeme, chosen spelling] in the scheme of this person's documents."""
        rng = self.rng
        k = p.scheme
        if k >= 0:
            s = lex[k] if k < len(lex) and is_latin(lex[k]) else lex[0]
        else:
            latin = [v for v in lex if is_latin(v)]
            s = latin[0] if (len(latin) == 1 or rng.random() < 0.62) else rng.choice(latin[1:])
        return [lex, s]

    def slavic(self, nat):
        return self.pools["UA" if nat == "UKR" else "RU"]

    def draw_given_lex(self, origin: str, sex: str, nat: str) -> tuple:
        if origin == "SL":
            return self.pickw(self.slavic(nat)["male" if sex == "M" else "female"])[0]
        if origin == "CN":
            n = 1 if self.rng.random() < 0.3 else 2
            return cn_given_lexeme([self.rng.choice(CN_SYLS) for _ in range(n)])
        return self.pickw(self.pools[origin]["male" if sex == "M" else "female"])[0]

    def synth_family(self, origin: str, sex: str, nat: str) -> list:
        rng = self.rng
        if origin == "SL":
            cyr = rng.choice(self.ru_stems) + rng.choice(self.ru_tails)
            if sex == "F":
                cyr = _ru_female(cyr)
            return [(cyr_lexeme(cyr, nat == "UKR"), False)]
        a, b = self.tail[origin]
        s = rng.choice(a) + rng.choice(b)
        return [((s,), False)]

    def draw_family(self, origin: str, sex: str, nat: str) -> list:
        """Family name as a list of (lexeme, is_particle)."""
        rng = self.rng
        if origin == "SL":
            if rng.random() < 0.3:
                return self.synth_family(origin, sex, nat)
            pool = self.slavic(nat)["family_f" if sex == "F" else "family"]
            return [(self.pickw(pool)[0], False)]
        if origin in TAIL and rng.random() < 0.3:
            fam = self.synth_family(origin, sex, nat)
        else:
            fam = [(lex, is_particle(lex[0])) for lex in self.pickw(self.pools[origin]["family"])]
        if origin in ("HISP", "PT"):
            second = [(lex, is_particle(lex[0])) for lex in self.pickw(self.pools[origin]["family"])]
            fam = fam + second
        if origin == "PL" and sex == "F":
            fam = [(tuple(self.pl_female(v) for v in lex), pt) for lex, pt in fam]
        if origin == "IN":
            r = rng.random()
            if r < 0.12:
                fam = [(("Singh",), False)] if sex == "M" else [(("Kaur",), False)]
        if origin == "EN" and rng.random() < 0.035:
            other = self.pickw(self.pools["EN"]["family"])
            fam = fam + [(lex, False) for lex in other]
            fam = [("-",)] + fam     # marker: hyphenated, handled in set_family
        return fam

    @staticmethod
    def pl_female(v: str) -> str:
        for a, b in (("ski", "ska"), ("cki", "cka"), ("dzki", "dzka")):
            if v.endswith(a):
                return v[: -len(a)] + b
        return v

    def set_family(self, p: Person, fam: list):
        p.joiner = " "
        if fam and fam[0] == ("-",):
            p.joiner = "-"
            fam = fam[1:]
        if p.origin == "IN" and self.rng.random() < 0.04 and p.rel in ("single", "namesake"):
            fam = []                        # single-name traveller (family name empty)
        p.fam = [self.token(p.origin, lex, p) + [pt] for lex, pt in fam]

    def draw_middle(self, origin: str, sex: str, nat: str) -> list:
        rng = self.rng
        if origin == "VN":
            if rng.random() < 0.75:
                return [("Văn", "Van")] if sex == "M" else [("Thị", "Thi")]
            return [rng.choice([("Đức", "Duc"), ("Minh",), ("Ngọc", "Ngoc"), ("Hữu", "Huu"), ("Quốc", "Quoc")])]
        if origin == "PH":
            return [self.pickw(self.pools["PH"]["family"])[0]]
        if origin == "AR":
            return [self.pickw(self.pools["AR"]["male"])[0]]
        if origin == "SL":
            father = self.pickw(self.slavic(nat)["male"])[0][-1]
            return [cyr_lexeme(_patronymic(father, sex == "F", nat == "UKR"), nat == "UKR")]
        if origin in ("CN", "KR", "JP"):
            return []
        n = 2 if rng.random() < 0.15 else 1
        return [self.draw_given_lex(origin, sex, nat) for _ in range(n)]

    def doc_number(self, country: str, dtype: str) -> str:
        rng = self.rng
        if dtype == "C":
            fmt = "LLLDDDDDDDDDD" if country == "USA" else "LLDDDDDDD"
        elif dtype == "AC":
            fmt = "LDDDDDDDD"
        elif dtype in ("I", "ID") and country not in ("DEU", "D"):
            fmt = "LLLDDDDDD"
        else:
            fmt = DOC_FORMATS.get(country, "LLDDDDDDD")
        if fmt == "G8":
            return rng.choice("CFGHJK") + "".join(rng.choice(GERMAN_ALNUM) for _ in range(8))
        out = []
        for c in fmt:
            if c == "L":
                out.append(rng.choice(UPPER))
            elif c == "D":
                out.append(rng.choice("0123456789"))
            elif c == "A":
                out.append(rng.choice(UPPER + "0123456789"))
            else:
                out.append(c)
        return "".join(out)

    @staticmethod
    def doc_next(num: str) -> str:
        """The next number in an issuing sequence (twins' passports)."""
        i = len(num)
        while i > 0 and num[i - 1].isdigit():
            i -= 1
        if i == len(num):
            return num[:-1] + ("A" if num[-1] == "Z" else chr(ord(num[-1]) + 1))
        digits = num[i:]
        n = (int(digits) + 1) % (10 ** len(digits))
        return num[:i] + str(n).zfill(len(digits))

    def set_document(self, p: Person):
        rng = self.rng
        r = rng.random()
        host = "CAN" if rng.random() < 0.5 else "USA"
        if p.status:
            p.doct, p.docc = "P", host
            nat_rec = p.status if rng.random() < 0.7 else p.origin_nat
        else:
            nat_rec = p.nat
            if r < 0.09:
                p.doct, p.docc = "C", host
            elif r < 0.115:
                p.doct, p.docc = "I", p.nat
            elif r < 0.13:
                p.doct, p.docc = "ID", p.nat
            elif r < 0.142:
                p.doct, p.docc = "AC", p.nat
            else:
                p.doct, p.docc = "P", p.nat
        p.docn = self.doc_number(p.docc, p.doct)
        # Germany: 'D' in machine-read records, mostly 'DEU' when keyed
        if "DEU" in (nat_rec, p.docc):
            use_d = rng.random() < (0.85 if p.style == "mrz" else 0.2)
            if use_d:
                nat_rec = "D" if nat_rec == "DEU" else nat_rec
                p.docc = "D" if p.docc == "DEU" else p.docc
        p.nat = nat_rec
        self.rebase(p)

    def rebase(self, p: Person):
        g, m, f = render_names(p, [t[1] for t in p.given], [t[1] for t in p.middle],
                               p.fam_str(), p.merge)
        p.base = (g, m, f, fmt_dob(p.dob), p.sexrec, p.nat, p.docc, p.doct, p.docn)
        p.sc = None

    # ---------------------------------------------------------------- units
    def make_unit(self):
        """A travel unit: a single traveller or a household.  Returns (type, persons)."""
        rng = self.rng
        self.counts["units"] += 1
        uid = self.counts["units"]
        origin = self.pick(self.origins, self.origin_cw)
        if rng.random() >= self.pop["household_share"]:
            if rng.random() < self.pop["namesake_share"]:
                return "namesake", [self.namesake(uid, "namesake")]
            sex = "F" if rng.random() < 0.5 else "M"
            return "single", [self.new_person(origin, sex, self.draw_age(), uid, "single")]
        t = self.pick(self.hh_types, self.hh_cw)
        return t, getattr(self, "hh_" + t)(origin, uid)

    def namesake(self, uid: int, rel: str) -> Person:
        rng = self.rng
        origins = list(COMMON_NAMES)
        origin = self.pick(origins, self._cw([ORIGIN_WEIGHTS[o] for o in origins]))
        spec = rng.choice(COMMON_NAMES[origin])
        g, m, f = spec.split(";")
        sex = "M" if strip_marks(g.split()[0]).upper() in self.male_keys else "F"
        if g in ("Maria", "María", "Mary", "Sarah", "Fatima", "Olga", "Sunita", "Priya", "Lan",
                 "Linh", "Na", "Fang", "Jing", "Yan", "Seo-yeon", "Soo-jin", "Ana", "Guadalupe"):
            sex = "F"
        nat = None
        if origin == "SL":
            nat = "RUS"
        p = self.new_person(origin, sex, self.draw_age(), uid, rel, nat)

        def lex(word):
            return self.lookup.get((origin, strip_marks(word).upper())) or (word,)
        p.given = [self.token(origin, lex(w), p) for w in g.split()]
        p.middle = [self.token(origin, lex(w), p) for w in m.split()]
        p.fam = [self.token(origin, lex(w), p) + [is_particle(w)] for w in f.split()]
        p.joiner = " "
        p.suffix = None
        self.rebase(p)
        return p

    def relative(self, origin, sex, age, uid, rel, nat, fam_of=None) -> Person:
        p = self.new_person(origin, sex, age, uid, rel, nat)
        if fam_of is not None:
            p.fam = [list(t) for t in fam_of.fam]
            p.joiner = fam_of.joiner
            if origin == "SL" or origin == "PL":
                self.gender_family(p)
            self.rebase(p)
        return p

    def gender_family(self, p: Person):
        """Russian/Polish family names take the person's gender."""
        out = []
        for lex, s, pt in p.fam:
            if p.origin == "SL":
                cyr = lex[-1]
                base = cyr
                for a, b in (("ова", "ов"), ("ева", "ев"), ("ёва", "ёв"), ("ина", "ин"), ("ская", "ский"),
                             ("цкая", "цкий")):
                    if cyr.endswith(a):
                        base = cyr[: -len(a)] + b
                        break
                new = _ru_female(base) if p.sex == "F" else base
                nl = cyr_lexeme(new, p.nat == "UKR")
            else:
                nl = tuple(self.pl_female(v) if p.sex == "F" else
                           (v[:-1] + "i" if v.endswith(("ska", "cka", "dzka")) else v) for v in lex)
            out.append(self.token(p.origin, nl, p) + [pt])
        p.fam = out

    @staticmethod
    def surnames(fam: list) -> list:
        """Split family tokens into surnames, each with its leading particles."""
        groups, cur = [], []
        for t in fam:
            cur.append(list(t))
            if not t[2]:
                groups.append(cur)
                cur = []
        if cur:
            groups.append(cur)
        return groups or [[]]

    def child_family(self, father: Person, mother: Person):
        o = father.origin
        mf = mother.fam if mother.maiden is None else mother.maiden
        if o == "HISP" and father.fam and mf:      # father's first surname + mother's first
            return self.surnames(father.fam)[0] + self.surnames(mf)[0]
        if o == "PT" and father.fam and mf:        # mother's last surname + father's last
            return self.surnames(mf)[-1] + self.surnames(father.fam)[-1]
        return [list(t) for t in father.fam]

    def couple(self, origin, uid):
        rng = self.rng
        age_h = int(rng.uniform(24, 72) * 365.25)
        age_w = max(18 * 365, age_h + int(rng.gauss(-2, 4) * 365.25))
        nat = self.pick(*self.nat_tab[origin])
        h = self.relative(origin, "M", age_h, uid, "spouse", nat)
        w = self.relative(origin, "F", age_w, uid, "spouse",
                          nat if rng.random() < 0.85 else None)
        if rng.random() < WIFE_TAKES.get(origin, 0.5) and h.fam:
            w.maiden = w.fam
            w.fam = [list(t) for t in h.fam]
            w.joiner = h.joiner
            if origin in ("SL", "PL"):
                self.gender_family(w)
            if origin == "PH":
                w.middle = [w.maiden[0][:2]]
        if h.status:
            w.status = h.status
            w.origin_nat, w.docc, w.nat, w.doct = h.origin_nat, h.docc, h.nat, "P"
            w.docn = self.doc_number(w.docc, w.doct)
        self.rebase(w)
        return h, w

    def kid(self, origin, uid, h, w, sex, age, rel="child"):
        k = self.new_person(origin, sex, age, uid, rel, h.origin_nat if self.rng.random() < 0.8 else w.origin_nat)
        k.fam = self.child_family(h, w)
        k.joiner = h.joiner
        if origin in ("SL", "PL"):
            self.gender_family(k)
        if origin == "AR":
            k.middle = [list(h.given[0])]
        elif origin == "SL":
            fc = h.given[0][0][-1]
            k.middle = [self.token(origin, cyr_lexeme(_patronymic(fc, sex == "F", k.nat == "UKR"),
                                                         k.nat == "UKR"), k)]
        elif origin == "PH":
            mm = (w.maiden or w.fam)[0]
            k.middle = [list(mm[:2])]
        elif origin == "VN":
            k.middle = [self.token(origin, ("Văn", "Van") if sex == "M" else ("Thị", "Thi"), k)]
        if h.status:
            k.status, k.origin_nat, k.docc = h.status, h.origin_nat, h.docc
            k.nat = h.nat
            k.doct = "P"
            k.docn = self.doc_number(k.docc, k.doct)
        self.rebase(k)
        return k

    def hh_couple(self, origin, uid):
        return list(self.couple(origin, uid))

    def hh_family(self, origin, uid):
        rng = self.rng
        h, w = self.couple(origin, uid)
        h.rel = w.rel = "parent"
        youngest_parent = min(h.age, w.age)
        out = [h, w]
        n = 1 + int(rng.random() * 3)
        for _ in range(n):
            age = int(rng.uniform(0, max(1.0, youngest_parent / 365.25 - 18)) * 365.25)
            out.append(self.kid(origin, uid, h, w, "F" if rng.random() < 0.5 else "M", age))
        return out

    def hh_siblings(self, origin, uid):
        rng = self.rng
        h, w = self.couple(origin, uid)
        base = int(rng.uniform(12, max(13.0, min(h.age, w.age) / 365.25 - 18)) * 365.25)
        out = []
        age = base
        for i in range(2 + (rng.random() < 0.3)):
            out.append(self.kid(origin, uid, h, w, "F" if rng.random() < 0.5 else "M", age, "sibling"))
            age -= int(rng.uniform(10, 48) * 30.4)   # 10 months to 4 years apart
            age = max(age, 30)
        return out

    def hh_senior_junior(self, origin, uid):
        rng = self.rng
        if origin not in ("EN", "HISP", "PH", "AF"):
            origin = "EN"
        age_f = int(rng.uniform(45, 80) * 365.25)
        nat = self.pick(*self.nat_tab[origin])
        f = self.new_person(origin, "M", age_f, uid, "senior", nat)
        s = self.new_person(origin, "M", age_f - int(rng.uniform(19, 38) * 365.25), uid, "junior", nat)
        s.given = [list(t) for t in f.given]
        s.middle = [list(t) for t in f.middle]
        s.fam = [list(t) for t in f.fam]
        s.joiner = f.joiner
        s.style = f.style if rng.random() < 0.5 else s.style
        s.merge = True if s.style == "mrz" else s.merge
        r = rng.random()
        if r < 0.7:
            f.suffix, s.suffix = "SR", "JR"
        elif r < 0.85:
            f.suffix, s.suffix = None, "II"
        else:
            f.suffix, s.suffix = None, None      # nothing tells them apart but the birth date
        pos = "fam" if rng.random() < 0.65 else "giv"
        f.spos = s.spos = pos
        if f.style == "title" and f.suffix:
            f.suffix = f.suffix.capitalize() if f.suffix in ("SR", "JR") else f.suffix
        if s.style == "title" and s.suffix in ("JR",):
            s.suffix = "Jr"
        self.rebase(f)
        self.rebase(s)
        return [f, s]

    def hh_twins(self, origin, uid):
        rng = self.rng
        h, w = self.couple(origin, uid)
        age = int(rng.uniform(0.5, max(1.0, min(h.age, w.age) / 365.25 - 18)) * 365.25)
        n = 3 if rng.random() < 0.04 else 2
        twins = [self.kid(origin, uid, h, w, "F" if rng.random() < 0.5 else "M", age, "twin") for _ in range(n)]
        # same birth date, same style of record, different given names, consecutive documents
        for t in twins:
            t.style, t.merge, t.scheme = twins[0].style, twins[0].merge, twins[0].scheme
            t.dob = twins[0].dob
            if t.scheme >= 0:      # documents issued together: one romanisation scheme
                t.fam = [self.token(origin, tok[0], t) + [tok[2]] for tok in t.fam]
                t.middle = [self.token(origin, tok[0], t) for tok in t.middle]
        seen = set()
        for t in twins:
            tries = 0
            while strip_marks(t.given[0][1]).upper() in seen and tries < 50:
                t.given = [self.token(origin, self.draw_given_lex(origin, t.sex, t.origin_nat), t)]
                tries += 1
            seen.add(strip_marks(t.given[0][1]).upper())
        for i, t in enumerate(twins):
            t.docc, t.doct, t.nat = twins[0].docc, twins[0].doct, twins[0].nat
            t.docn = twins[0].docn if i == 0 else self.doc_next(twins[i - 1].docn)
            self.rebase(t)
        parents = [h, w][: int(rng.random() * 3)]
        for p in parents:
            p.rel = "parent"
        return parents + twins

    # ---------------------------------------------------------------- trips
    def diurnal(self, t: int) -> int:
        day = t // 86400
        h = bisect.bisect_right(self.hour_cw, self.rng.random() * self.hour_cw[-1])
        nt = day * 86400 + h * 3600 + int(self.rng.random() * 3600)
        return nt if nt >= t else nt + 86400

    def stay(self, mode: str) -> int:
        rng = self.rng
        if mode == "commuter":
            return int(rng.uniform(2, 12) * 3600)
        r = rng.random()
        if r < 0.30:
            return int(rng.uniform(1, 20) * 3600)
        if r < 0.72:
            return int(rng.uniform(1, 14) * 86400)
        if r < 0.95:
            return int(rng.uniform(14, 70) * 86400)
        return int(rng.uniform(70, 182) * 86400)

    def crossing(self) -> int:
        return bisect.bisect_right(self.cross_cw, self.rng.random() * self.cross_cw[-1])

    def plan(self, mode: str) -> list:
        """Trips [t_in, crossing_in, t_out or None, crossing_out] in time order."""
        rng = self.rng
        k = {"commuter": rng.randint(4, 15), "repeat": 2 + min(int(rng.expovariate(0.7)), 4)}.get(mode, 1)
        span = self.t_end - self.t0
        t = self.diurnal(self.t0 + int(rng.random() * span * (0.7 if k > 1 else 1.0)))
        trips = []
        for _ in range(k):
            if t >= self.t_end:
                break
            t_out = t + self.stay(mode)
            c = self.crossing()
            c2 = c if rng.random() < 0.7 else self.crossing()
            ok = rng.random() < self.pop["exit_prob"] and t_out <= self.cutoff
            trips.append([t, c, t_out if ok else None, c2])
            gap = rng.uniform(0.5, 6) if mode == "commuter" else rng.uniform(1, 45)
            t = self.diurnal(t_out + int(gap * 86400))
        return trips

    def mode(self) -> str:
        r = self.rng.random()
        if r < self.pop["commuter_share"]:
            return "commuter"
        if r < self.pop["commuter_share"] + self.pop["repeat_share"]:
            return "repeat"
        return "single"

    # ---------------------------------------------------------------- output
    def next_ids(self, which: str) -> str:
        if which == "e":
            self._ne += 1
            return "E%010X" % perm40(self._ne, self.keys_e)
        self._nx += 1
        return "X%010X" % perm40(self._nx, self.keys_x)

    def write_entry(self, rec, t, p, utype):
        self.be.add(t, rec[ID], csv_line(rec))
        self.counts["entries"] += 1
        if self.pf:
            self.pf.write(csv_line(["entries", rec[ID], str(p.pid), str(p.unit), utype, p.rel]))

    def write_exit(self, rec, t, p, utype, rel=None):
        self.bx.add(t, rec[ID], csv_line(rec))
        self.counts["exits"] += 1
        if self.pf:
            self.pf.write(csv_line(["exits", rec[ID], str(p.pid), str(p.unit), utype, rel or p.rel]))

    def emit_unit(self, utype: str, persons: list):
        rng = self.rng
        remaining = self.n_entries - self.counts["entries"]
        plans = []
        if len(persons) > 1 and rng.random() < self.pop["together_share"]:
            shared = self.plan(self.mode())
            for _ in persons:
                pl = []
                for t, c, to, c2 in shared:
                    j = int(rng.random() * 300)
                    to2 = None if (to is None or rng.random() < 0.02) else to + int(rng.random() * 300)
                    pl.append([t + j, c, to2, c2])
                plans.append(pl)
        else:
            plans = [self.plan(self.mode()) for _ in persons]
        self.unit_types[utype] = self.unit_types.get(utype, 0) + 1
        for p, pl in zip(persons, plans):
            if remaining <= 0:
                break
            pl = pl[:remaining]
            remaining -= len(pl)
            self.counts["persons"] += 1
            if len(pl) >= 2 and rng.random() < self.pop["prior_exit_share"]:
                tpe = pl[0][0] - int(rng.uniform(0.25, 20) * 86400)
                if tpe > self.t0:
                    rec = [self.next_ids("x"), *p.base, iso(tpe), self.cross_b[self.crossing()]]
                    self.write_exit(rec, tpe, p, utype, "prior-exit")
                    self.counts["prior_exits"] += 1
                    self.counts["unmatched_exits"] += 1
            for t, c, to, c2 in pl:
                ent = [self.next_ids("e"), *p.base, iso(t), self.cross_a[c]]
                if to is None:
                    self.write_entry(ent, t, p, utype)
                    self.counts["entries_without_exit"] += 1
                    continue
                ext = [self.next_ids("x"), *p.base, iso(to), self.cross_b[c2]]
                kinds = self.noise_pair(p, ent, ext)
                self.write_entry(ent, t, p, utype)
                if kinds is None:              # --only and this traveller cannot carry the kind
                    self.counts["only_dropped_exits"] += 1
                    self.counts["entries_without_exit"] += 1
                    self._nx -= 0
                    continue
                self.write_exit(ext, to, p, utype)
                self.tf.write("%s,%s,%s\n" % (ent[ID], ext[ID], ";".join(kinds) if kinds else "none"))
                self.counts["truth"] += 1

    def emit_unmatched(self):
        rng = self.rng
        self.counts["units"] += 1
        uid = self.counts["units"]
        if rng.random() < self.pop["unmatched_namesake_share"]:
            p = self.namesake(uid, "unmatched-namesake")
        else:
            origin = self.pick(self.origins, self.origin_cw)
            p = self.new_person(origin, "F" if rng.random() < 0.5 else "M", self.draw_age(), uid, "unmatched")
        self.counts["persons"] += 1
        t = self.diurnal(self.t0 + int(rng.random() * (self.cutoff - self.t0 - 86400)))
        rec = [self.next_ids("x"), *p.base, iso(t), self.cross_b[self.crossing()]]
        self.write_exit(rec, t, p, "unmatched")
        self.counts["unmatched_exits"] += 1

    def run(self, out: str) -> dict:
        t_start = time.time()
        os.makedirs(out, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".second-gen-", dir=out)
        self._ne = self._nx = 0
        try:
            nb = max(4, min(400, self.n_entries // 25000 + 1))
            self.be = Buckets(tmp, "entries", self.t0, self.t_end, nb)
            self.bx = Buckets(tmp, "exits", self.t0, self.cutoff, nb)
            self.tf = open(os.path.join(out, "truth.csv"), "w", encoding="utf-8", newline="")
            self.tf.write("entry_id,exit_id,kinds\n")
            self.pf = None
            if self.want_persons:
                self.pf = open(os.path.join(out, "persons.csv"), "w", encoding="utf-8", newline="")
                self.pf.write("file,id,person,unit,unit_type,relation\n")
            acc = 0.0
            rate = self.pop["unmatched_exit_rate"]
            while self.counts["entries"] < self.n_entries:
                before = self.counts["entries"]
                utype, persons = self.make_unit_checked()
                self.emit_unit(utype, persons)
                acc += (self.counts["entries"] - before) * rate
                while acc >= 1.0:
                    self.emit_unmatched()
                    acc -= 1.0
            self.tf.close()
            if self.pf:
                self.pf.close()
            self.be.finish(os.path.join(out, "entries.csv"))
            self.bx.finish(os.path.join(out, "exits.csv"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        manifest = self.manifest(time.time() - t_start)
        with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=1, sort_keys=False)
            fh.write("\n")
        return manifest

    def manifest(self, elapsed: float) -> dict:
        kinds = {}
        for k in KINDS:
            e, a = self.stats[k]
            kinds[k] = {"rate": self.rates[k], "eligible": e, "applied": a,
                        "observed_rate_among_eligible": round(a / e, 5) if e else None,
                        "share_of_true_pairs": round(a / self.counts["truth"], 5) if self.counts["truth"] else None}
        return {"generator": "second_generator.py", "seed": self.seed, "entries_requested": self.n_entries,
                "noise": self.noise, "only": self.only, "no_empty": self.no_empty, "start": self.start_date,
                "population": self.pop, "counts": self.counts, "unit_types": self.unit_types,
                "kinds": kinds, "elapsed_seconds": round(elapsed, 2),
                "python": sys.version.split()[0]}

    # ---------------------------------------------------------------- noise
    def struct(self, p: Person):
        """Per-person structural alternatives: nicknames, family-name forms, spellings."""
        sc = p.sc
        if sc is not None:
            return sc
        st = p.style
        nick = []
        if p.given:
            cur = p.given[0][1]
            key = strip_marks(cur).upper().rstrip(".")
            cs = style(cur, st)
            for alt in self.nicks.get(p.origin, {}).get(key, ()):
                if style(alt, st) != cs and alt not in nick:
                    nick.append(alt)
        fam = p.fam_str()
        cf = style(fam, st)
        mp = [c for c in multipart_candidates(fam) if style(c, st) != cf] if fam else []
        tr = []
        natives = True
        ntok = 0
        for where, toks in (("g", p.given), ("m", p.middle), ("f", p.fam)):
            for i, t in enumerate(toks):
                ntok += 1
                lex, cur = t[0], t[1]
                latin, native = alt_forms(lex)
                if not native:
                    natives = False
                cs = style(cur, st)
                alts = [a for a in latin if style(a, st) != cs]
                if alts:
                    tr.append((where, i, alts))
        native_ok = natives and ntok > 0 and st != "mrz"
        mid_any = len(p.middle) > 0
        mid_init = any(sum(c.isalpha() for c in t[1]) >= 2 for t in p.middle)
        p.sc = sc = (nick, mp, tr, native_ok, mid_any, mid_init)
        return sc

    def side(self, kind: str) -> int:
        return 0 if (KIND_SYM[kind] and self.rng.random() < self.pop["entry_side"]) else 1

    # -- string-level checks and edits
    @staticmethod
    def typo_fields(rec):
        return [f for f in (GIV, FAM, MID) if sum(c.isalpha() for c in rec[f]) >= 2]

    @staticmethod
    def ocr_fields(rec):
        return [f for f in (GIV, FAM, MID) if any(c.upper() in OCR_LETTERS for c in rec[f])]

    @staticmethod
    def case_variants(rec):
        outs = []
        for name, fn in (("lower", str.lower), ("title", smart_title), ("upper", str.upper),
                         ("strip", strip_marks)):
            new = [fn(rec[f]) for f in (GIV, MID, FAM)]
            if new != [rec[GIV], rec[MID], rec[FAM]]:
                outs.append(new)
        return outs

    def typo(self, s: str) -> str:
        rng = self.rng
        for _ in range(20):
            pos = [i for i, c in enumerate(s) if c.isalpha()]
            r = rng.random()
            i = rng.choice(pos)
            c = s[i]
            if r < 0.35:                                     # substitution
                lc = strip_marks(c).lower()[:1]
                if lc in KEY_NEIGH and rng.random() < 0.75:
                    n = rng.choice(KEY_NEIGH[lc])
                else:
                    n = rng.choice("abcdefghijklmnopqrstuvwxyz")
                n = n.upper() if c.isupper() else n
                t = s[:i] + n + s[i + 1:]
            elif r < 0.60:                                   # deletion
                if len(pos) < 2:
                    continue
                t = s[:i] + s[i + 1:]
            elif r < 0.80:                                   # insertion
                lc = strip_marks(c).lower()[:1]
                n = c if rng.random() < 0.5 or lc not in KEY_NEIGH else rng.choice(KEY_NEIGH[lc])
                n = n.upper() if c.isupper() else n
                t = s[:i] + n + s[i:]
            else:                                            # adjacent transposition
                adj = [j for j in range(len(s) - 1) if s[j].isalpha() and s[j + 1].isalpha()
                       and s[j] != s[j + 1]]
                if not adj:
                    continue
                j = rng.choice(adj)
                t = s[:j] + s[j + 1] + s[j] + s[j + 2:]
            if t != s and t.strip():
                return t
        return s[:-1] if len(s) > 1 else s + s

    def ocr(self, s: str, letters_only: bool) -> str:
        rng = self.rng
        if letters_only:
            pos = [i for i, c in enumerate(s) if c.upper() in OCR_LETTERS]
        else:
            pos = [i for i, c in enumerate(s) if c in OCR_PAIRS]
        n = 2 if (len(pos) >= 2 and rng.random() < 0.2) else 1
        chars = list(s)
        for i in rng.sample(pos, n):
            c = chars[i].upper() if letters_only else chars[i]
            chars[i] = rng.choice(OCR_PAIRS[c])
        return "".join(chars)

    def doc_typo(self, s: str) -> str:
        rng = self.rng
        for _ in range(20):
            r = rng.random()
            i = rng.randrange(len(s))
            c = s[i]
            if r < 0.5:
                pool = "0123456789" if c.isdigit() else UPPER
                t = s[:i] + rng.choice(pool) + s[i + 1:]
            elif r < 0.8:
                if i + 1 >= len(s):
                    continue
                t = s[:i] + s[i + 1] + s[i] + s[i + 2:]
            elif r < 0.9:
                t = s[:i] + s[i + 1:]
            else:
                t = s[:i] + c + s[i:]
            if t != s and t:
                return t
        return s + "0"

    # -- dates of birth
    def valid_dob(self, y, m, d) -> bool:
        if y < 1900:
            return False
        if m == 0:
            if d != 0:
                return False
        elif not 1 <= m <= 12:
            return False
        elif d != 0 and not 1 <= d <= calendar.monthrange(y, m)[1]:
            return False
        return (y, m or 1, d or 1) < self.ref

    def dob_cands(self, kind: str, s: str) -> list:
        d = parse_dob(s)
        if d is None:
            return []
        y, m, dd = d
        full = m > 0 and dd > 0
        if kind == "dob_day_month_swap":
            return [(y, dd, m)] if full and dd <= 12 and dd != m else []
        if kind == "dob_digit":
            if not full:
                return []
            digs = "%04d%02d%02d" % d
            out = []
            for pos in (2, 3, 4, 5, 6, 7):
                for nd in "0123456789":
                    if nd == digs[pos]:
                        continue
                    t = digs[:pos] + nd + digs[pos + 1:]
                    c = (int(t[:4]), int(t[4:6]), int(t[6:]))
                    if c[1] > 0 and c[2] > 0 and self.valid_dob(*c):
                        out.append(c)
            return out
        if kind == "dob_digit_transpose":
            out = []
            digs = "%04d%02d%02d" % d
            for a in ((2, 3), (4, 5), (6, 7)):
                i, j = a
                if digs[i] == digs[j] or (i >= 4 and (m == 0 or dd == 0)):
                    continue
                t = digs[:i] + digs[j] + digs[i] + digs[j + 1:]
                c = (int(t[:4]), int(t[4:6]), int(t[6:]))
                if (c[1] == 0) == (m == 0) and (c[2] == 0) == (dd == 0) and self.valid_dob(*c):
                    out.append(c)
            return out
        if kind in ("dob_year_off1", "dob_year_off10"):
            k = 1 if kind == "dob_year_off1" else 10
            return [(y + s_, m, dd) for s_ in (-k, k) if self.valid_dob(y + s_, m, dd)]
        if kind == "dob_partial":
            if dd == 0:
                return []
            return [(y, m, 0), (y, 0, 0)] if m else [(y, m, 0)]
        if kind == "dob_missing":
            return [None]
        return []

    def kind_ok(self, kind: str, p: Person, rec) -> bool:
        """Eligibility of a field-group kind on the record it would change."""
        if kind.startswith("dob_"):
            s = rec[DOB]
            if kind == "dob_missing":
                return s != "" and not self.no_empty
            if not s:
                return False
            m, d = int(s[5:7]), int(s[8:10])
            if kind == "dob_digit":
                return m > 0 and d > 0
            if kind == "dob_day_month_swap":
                return m > 0 and 0 < d <= 12 and d != m
            if kind in ("dob_year_off1", "dob_year_off10"):
                return not (m == 2 and d == 29)       # +-1 / +-10 from a leap year is never leap
            if kind == "dob_partial":
                return d > 0
            return bool(self.dob_cands(kind, s))
        if kind == "sex_missing":
            return rec[SEX] != "" and not self.no_empty
        if kind == "sex_x":
            return rec[SEX] in ("F", "M")
        if kind == "nat_code_variant":
            return rec[NAT] in ("D", "DEU") or rec[DOCC] in ("D", "DEU")
        if kind == "nat_status":
            return bool(p.status) and rec[NAT] in (p.status, p.origin_nat)
        if kind == "dual_national":
            return (not p.status and rec[DOCT] in ("P", "I", "ID") and rec[DOCN] != ""
                    and rec[NAT] not in ("", "XXA", "XXB", "XXC"))
        if kind == "doc_renewal":
            return rec[DOCN] != "" and rec[DOCC] != ""
        if kind == "doc_ocr":
            return any(c in OCR_PAIRS for c in rec[DOCN])
        if kind == "doc_typo":
            return len(rec[DOCN]) >= 2
        if kind == "doc_type_variant":
            return rec[DOCT] in DOC_TYPE_VARIANTS
        if kind == "middle_missing" or kind == "middle_in_given":
            return self.struct(p)[4]
        if kind == "middle_initial":
            return self.struct(p)[5]
        raise KeyError(kind)

    def kind_apply(self, kind: str, p: Person, rec) -> set:
        rng = self.rng
        if kind.startswith("dob_"):
            c = self.dob_cands(kind, rec[DOB])
            if not c:
                self.counts["apply_failed"] += 1
                return set()
            rec[DOB] = fmt_dob(rng.choice(c) if kind != "dob_partial" else
                               (c[0] if len(c) == 1 or rng.random() < 0.65 else c[1]))
            return {DOB}
        if kind == "sex_missing":
            rec[SEX] = ""
            return {SEX}
        if kind == "sex_x":
            rec[SEX] = "X"
            return {SEX}
        if kind == "nat_code_variant":
            fl = {"D": "DEU", "DEU": "D"}
            fs = [f for f in (NAT, DOCC) if rec[f] in fl]
            if len(fs) == 2:
                r = rng.random()
                fs = fs if r < 0.4 else ([NAT] if r < 0.8 else [DOCC])
            for f in fs:
                rec[f] = fl[rec[f]]
            return set(fs)
        if kind == "nat_status":
            rec[NAT] = p.origin_nat if rec[NAT] == p.status else p.status
            return {NAT}
        if kind == "dual_national":
            cur = "DEU" if rec[NAT] == "D" else rec[NAT]
            opts = [c for c in SECOND_NAT.get(cur, SECOND_NAT_DEFAULT) if c != cur and c != p.origin_nat]
            if not opts:
                opts = [c for c in SECOND_NAT_DEFAULT if c != cur]
            sec = rng.choice(opts)
            code = "D" if (sec == "DEU" and p.style == "mrz") else sec
            ch = {DOCC, DOCN}
            rec[DOCC] = code
            if rng.random() < 0.7:
                rec[NAT] = code
                ch.add(NAT)
            new = self.doc_number(sec, "P")
            while new == rec[DOCN]:
                new = self.doc_number(sec, "P")
            rec[DOCN] = new
            if rec[DOCT] != "P":
                rec[DOCT] = "P"
                ch.add(DOCT)
            return ch
        if kind == "doc_renewal":
            fmtc = "DEU" if rec[DOCC] == "D" else rec[DOCC]
            new = self.doc_number(fmtc, rec[DOCT])
            while new == rec[DOCN]:
                new = self.doc_number(fmtc, rec[DOCT])
            rec[DOCN] = new
            p.docn = new
            p.base = p.base[:8] + (new,)
            return {DOCN}
        if kind == "doc_ocr":
            rec[DOCN] = self.ocr(rec[DOCN], False)
            return {DOCN}
        if kind == "doc_typo":
            rec[DOCN] = self.doc_typo(rec[DOCN])
            return {DOCN}
        if kind == "doc_type_variant":
            rec[DOCT] = rng.choice(DOC_TYPE_VARIANTS[rec[DOCT]])
            return {DOCT}
        raise KeyError(kind)

    def group_draw(self, group: str, p: Person, recs) -> str | None:
        """One kind (or none) of an exclusive group; P(kind | eligible) = its rate."""
        ks = self.group_kinds[group]
        if not ks:
            return None
        u = self.rng.random()
        chosen = None
        acc = 0.0
        starts = {}
        for k in ks:
            ok = self.kind_ok(k, p, recs[1])
            if ok:
                self.stats[k][0] += 1
            if k in SHARED_SLOT and SHARED_SLOT[k] in starts:
                lo, olo, ohi = starts[SHARED_SLOT[k]]
                if ok and starts[SHARED_SLOT[k]][1]:
                    self.counts["slot_conflicts"] += 1
                hi = lo + self.rates[k]
                acc = max(ohi, hi)
            else:
                lo = acc
                hi = acc = acc + self.rates[k]
            starts[k] = (lo, ok, hi)
            if ok and lo <= u < hi:
                chosen = k
        return chosen

    def noise_pair(self, p: Person, ent: list, ext: list):
        """Apply noise to one true pair; returns the list of kinds (None: --only impossible)."""
        rng = self.rng
        R = self.rates
        S = self.stats
        recs = (ent, ext)
        kinds = []
        touched = (set(), set())
        sc = self.struct(p)
        nick, mp, tr, native_ok, mid_any, mid_init = sc
        # ---- structural name kinds: decide, then apply per side
        dec = {}
        if R["name_nickname"] > 0 and nick:
            S["name_nickname"][0] += 1
            if rng.random() < R["name_nickname"]:
                dec["name_nickname"] = self.side("name_nickname")
        if R["family_multipart"] > 0 and mp:
            S["family_multipart"][0] += 1
            if rng.random() < R["family_multipart"]:
                dec["family_multipart"] = self.side("family_multipart")
        if mid_any:
            k = self.group_draw("middle", p, recs)
            if k:
                dec[k] = self.side(k)
        mid_kind = next((k for k in ("middle_missing", "middle_initial", "middle_in_given") if k in dec), None)
        tr_ok = [t for t in tr if not (("name_nickname" in dec and t[0] == "g" and t[1] == 0)
                                       or ("family_multipart" in dec and t[0] == "f")
                                       or (mid_kind and t[0] == "m"))]
        nat_ok = native_ok and not dec
        if R["name_translit"] > 0 and (tr_ok or nat_ok):
            S["name_translit"][0] += 1
            if rng.random() < R["name_translit"]:
                dec["name_translit"] = self.side("name_translit")
        if dec:
            for s in (0, 1):
                mine = [k for k, v in dec.items() if v == s]
                if not mine:
                    continue
                g = [t[1] for t in p.given]
                m = [t[1] for t in p.middle]
                f = [t[1] for t in p.fam]
                fo = None
                merge = p.merge
                if "name_translit" in mine:
                    if nat_ok and (not tr_ok or rng.random() < 0.12):
                        g = [alt_forms(t[0])[1][0] for t in p.given]
                        m = [alt_forms(t[0])[1][0] for t in p.middle]
                        f = [alt_forms(t[0])[1][0] for t in p.fam]
                    else:
                        chosen = tr_ok if rng.random() < 0.35 else [rng.choice(tr_ok)]
                        for where, i, alts in chosen:
                            {"g": g, "m": m, "f": f}[where][i] = rng.choice(alts)
                if "name_nickname" in mine:
                    g[0] = rng.choice(nick)
                if "family_multipart" in mine:
                    fo = rng.choice(mp)
                if "middle_missing" in mine:
                    m = m[:-1] if (len(m) >= 2 and rng.random() < 0.3) else []
                if "middle_initial" in mine:
                    dot = "." if (p.style != "mrz" and rng.random() < 0.3) else ""
                    m = [initials(t, dot) if sum(c.isalpha() for c in t) >= 2 else t for t in m]
                if "middle_in_given" in mine:
                    merge = not merge
                fam = fo if fo is not None else p.joiner.join(f)
                if p.fam and fam == p.fam_str() and fo is None and "name_translit" in mine and ("f" in [c[0] for c in tr_ok]):
                    pass
                gg, mm, ff = render_names(p, g, m, fam, merge)
                rec = recs[s]
                for fld, val in ((GIV, gg), (MID, mm), (FAM, ff)):
                    if rec[fld] != val:
                        rec[fld] = val
                        touched[s].add(fld)
            kinds.extend(dec)
        # ---- string-level name kinds
        if R["name_order_swap"] > 0:
            s = self.side("name_order_swap")
            rec = recs[s]
            if rec[GIV] and rec[FAM] and rec[GIV].casefold() != rec[FAM].casefold():
                S["name_order_swap"][0] += 1
                if rng.random() < R["name_order_swap"]:
                    rec[GIV], rec[FAM] = rec[FAM], rec[GIV]
                    touched[s].update((GIV, FAM))
                    kinds.append("name_order_swap")
        if R["name_typo"] > 0:
            s = self.side("name_typo")
            fs = self.typo_fields(recs[s])
            if fs:
                S["name_typo"][0] += 1
                if rng.random() < R["name_typo"]:
                    w = [0.45 if f != MID else 0.1 for f in fs]
                    f = self.pick(fs, self._cw(w))
                    recs[s][f] = self.typo(recs[s][f])
                    touched[s].add(f)
                    kinds.append("name_typo")
        if R["name_ocr"] > 0:
            s = self.side("name_ocr")
            fs = self.ocr_fields(recs[s])
            if fs:
                S["name_ocr"][0] += 1
                if rng.random() < R["name_ocr"]:
                    f = rng.choice(fs)
                    recs[s][f] = self.ocr(recs[s][f], True)
                    touched[s].add(f)
                    kinds.append("name_ocr")
        if R["case_accent"] > 0:
            s = self.side("case_accent")
            r_ = recs[s]
            names = r_[GIV] + r_[MID] + r_[FAM]
            if names.lower() != names or names.upper() != names or strip_marks(names) != names:
                S["case_accent"][0] += 1
                if rng.random() < R["case_accent"]:
                    new = rng.choice(self.case_variants(r_))
                    for f, v in zip((GIV, MID, FAM), new):
                        if recs[s][f] != v:
                            recs[s][f] = v
                            touched[s].add(f)
                    kinds.append("case_accent")
        # ---- date of birth, sex, nationality / document (exclusive groups)
        for group in ("dob", "sex", "doc"):
            k = self.group_draw(group, p, recs)
            if k:
                s = self.side(k)
                touched[s].update(self.kind_apply(k, p, recs[s]))
                kinds.append(k)
        # ---- a value missing somewhere (never hiding another kind)
        if R["value_missing"] > 0:
            s = self.side("value_missing")
            o = 1 - s
            fs = [f for f in (GIV, FAM, NAT, DOCC, DOCT, DOCN)
                  if recs[s][f] and recs[o][f] and f not in touched[0] and f not in touched[1]]
            if fs:
                S["value_missing"][0] += 1
                if rng.random() < R["value_missing"]:
                    w = {GIV: .22, FAM: .10, NAT: .25, DOCC: .15, DOCT: .13, DOCN: .15}
                    f = self.pick(fs, self._cw([w[x] for x in fs]))
                    recs[s][f] = ""
                    touched[s].add(f)
                    kinds.append("value_missing")
        for k in kinds:
            S[k][1] += 1
        if self.only is not None and kinds != [self.only]:
            for k in kinds:
                S[k][1] -= 1
            return None
        order = {k: i for i, k in enumerate(KINDS)}
        kinds.sort(key=order.__getitem__)
        return kinds

    # ---------------------------------------------------------------- --only
    def only_ok(self, p: Person) -> bool:
        k = self.only
        rec = [""] + list(p.base) + ["", ""]
        nick, mp, tr, native_ok, mid_any, mid_init = self.struct(p)
        if k == "name_translit":
            return bool(tr) or native_ok
        if k == "name_nickname":
            return bool(nick)
        if k == "family_multipart":
            return bool(mp)
        if k == "name_order_swap":
            return bool(rec[GIV] and rec[FAM] and rec[GIV].casefold() != rec[FAM].casefold())
        if k == "name_typo":
            return bool(self.typo_fields(rec))
        if k == "name_ocr":
            return bool(self.ocr_fields(rec))
        if k == "case_accent":
            return bool(self.case_variants(rec))
        if k == "value_missing":
            return any(rec[f] for f in (GIV, FAM, NAT, DOCC, DOCT, DOCN))
        return self.kind_ok(k, p, rec)

    def make_unit_checked(self):
        if self.only is None:
            return self.make_unit()
        for _ in range(3000):
            utype, persons = self.make_unit()
            if all(self.only_ok(p) for p in persons):
                return utype, persons
        return utype, persons


def parse_kv(items, what):
    out = {}
    for it in items or []:
        for part in it.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise SystemExit("--%s expects key=value, got %r" % (what, part))
            k, v = part.split("=", 1)
            try:
                out[k.strip()] = float(v)
            except ValueError:
                raise SystemExit("--%s %s: %r is not a number" % (what, k, v))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, help="number of entry records to write")
    ap.add_argument("--noise", default="moderate", choices=sorted(PRESETS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="output directory")
    ap.add_argument("--only", metavar="KIND", help="every true pair carries exactly this kind")
    ap.add_argument("--no-empty", action="store_true", help="never write an empty date of birth or sex")
    ap.add_argument("--rate", action="append", metavar="KIND=P", help="override a kind's rate (repeatable)")
    ap.add_argument("--pop", action="append", metavar="KEY=V", help="override a population parameter")
    ap.add_argument("--start", default="2026-03-02", help="first day of the entry window (UTC)")
    ap.add_argument("--persons", action="store_true", help="also write persons.csv (record -> person)")
    ap.add_argument("--list-kinds", action="store_true", help="print the kinds and their preset rates")
    ap.add_argument("--self-test", action="store_true", help="check the generator's own invariants")
    a = ap.parse_args(argv)
    if a.list_kinds:
        print("%-22s %-7s %8s %8s %8s  eligible when" % ("kind", "group", "light", "moderate", "heavy"))
        for k in KINDS:
            print("%-22s %-7s %8.4f %8.4f %8.4f  %s" % (k, KIND_GROUP[k] or "-", PRESETS["light"][k],
                                                      PRESETS["moderate"][k], PRESETS["heavy"][k], ELIGIBILITY[k]))
        return 0
    if a.self_test:
        return self_test()
    if a.entries is None or a.out is None:
        ap.error("--entries and --out are required (or --self-test / --list-kinds)")
    g = Generator(a.entries, seed=a.seed, noise=a.noise, only=a.only, no_empty=a.no_empty,
                  rates=parse_kv(a.rate, "rate"), pop=parse_kv(a.pop, "pop"), start=a.start,
                  persons=a.persons)
    m = g.run(a.out)
    c = m["counts"]
    print("wrote %s: %d entries, %d exits (%d true pairs, %d unmatched exits), %.1fs"
          % (a.out, c["entries"], c["exits"], c["truth"], c["unmatched_exits"], m["elapsed_seconds"]))
    return 0


# ---------------------------------------------------------------------------
# Self-test
# ---------------------------------------------------------------------------
def _read_csv(path):
    import csv
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _letters(s):
    return "".join(c for c in strip_marks(s).upper() if c.isalpha())


def _subseq(short, long_):
    it = iter(long_)
    return all(c in it for c in short)


_ALL_NICKS: dict = {}


def _nick_related(x, y):
    if not _ALL_NICKS:
        for o in POOLS:
            for k, v in parse_nicks(POOLS[o]["nick"]).items():
                _ALL_NICKS.setdefault(k, set()).update(strip_marks(n).upper().rstrip(".") for n in v)
    kx = strip_marks(x).upper().rstrip(".")
    ky = strip_marks(y).upper().rstrip(".")
    return ky in _ALL_NICKS.get(kx, ()) or kx in _ALL_NICKS.get(ky, ())


def _ocr_pair(x, y):
    return y in OCR_PAIRS.get(x.upper(), "") or x in OCR_PAIRS.get(y.upper(), "")


NAMES = {GIV, MID, FAM}


def verify_kind(kind, a, b):
    """Does the difference between entry a and exit b look like `kind` alone?"""
    diff = {f for f in IDENTITY if a[f] != b[f]}
    if not diff:
        return False
    ta, tb = a[GIV].split() + a[MID].split(), b[GIV].split() + b[MID].split()
    if kind == "name_translit":
        return diff <= NAMES
    if kind == "name_nickname":
        ga, gb = a[GIV].split(), b[GIV].split()
        return (diff == {GIV} and len(ga) == len(gb) and ga[1:] == gb[1:]
                and _nick_related(ga[0], gb[0]))
    if kind == "family_multipart":
        la, lb = _letters(a[FAM]), _letters(b[FAM])
        return diff == {FAM} and (_subseq(la, lb) or _subseq(lb, la))
    if kind == "middle_missing":
        s_, l_ = (ta, tb) if len(ta) < len(tb) else (tb, ta)
        return diff <= {GIV, MID} and len(s_) < len(l_) and _subseq(s_, l_)
    if kind == "middle_initial":
        if not diff <= {GIV, MID} or len(ta) != len(tb):
            return False
        ta, tb = " ".join(ta).replace("-", " ").split(), " ".join(tb).replace("-", " ").split()
        if len(ta) != len(tb):
            return False
        ch = [(x, y) for x, y in zip(ta, tb) if x != y]

        def init_of(i, w):
            i = i.rstrip(".")
            return 1 <= len(i) <= 2 and len(w) > len(i) and fold(w).startswith(fold(i))
        return bool(ch) and all(init_of(x, y) or init_of(y, x) for x, y in ch)
    if kind == "middle_in_given":
        return diff <= {GIV, MID} and sorted(ta) == sorted(tb)
    if kind == "name_order_swap":
        return diff == {GIV, FAM} and a[GIV] == b[FAM] and a[FAM] == b[GIV]
    if kind == "name_typo":
        return len(diff) == 1 and diff <= NAMES and osa_distance(a[list(diff)[0]], b[list(diff)[0]]) == 1
    if kind == "name_ocr":
        if len(diff) != 1 or not diff <= NAMES:
            return False
        f = list(diff)[0]
        x, y = a[f], b[f]
        return len(x) == len(y) and all(_ocr_pair(c, d) for c, d in zip(x, y) if c != d)
    if kind == "case_accent":
        return diff <= NAMES and all(fold(a[f]) == fold(b[f]) for f in NAMES)
    if kind.startswith("dob_"):
        if diff != {DOB}:
            return False
        x, y = a[DOB], b[DOB]
        if kind == "dob_missing":
            return (x == "") != (y == "")
        if not x or not y:
            return False
        (ya, ma, da), (yb, mb, db) = parse_dob(x), parse_dob(y)
        if kind == "dob_day_month_swap":
            return ya == yb and ma == db and da == mb
        dx, dy = x.replace("-", ""), y.replace("-", "")
        pos = [i for i in range(8) if dx[i] != dy[i]]
        if kind == "dob_digit":
            return len(pos) == 1 and "00" not in (x[5:7], x[8:], y[5:7], y[8:])
        if kind == "dob_digit_transpose":
            return (len(pos) == 2 and pos[1] == pos[0] + 1 and dx[pos[0]] == dy[pos[1]]
                    and dx[pos[1]] == dy[pos[0]])
        if kind == "dob_year_off1":
            return abs(ya - yb) == 1 and (ma, da) == (mb, db)
        if kind == "dob_year_off10":
            return abs(ya - yb) == 10 and (ma, da) == (mb, db)
        if kind == "dob_partial":
            if ya != yb:
                return False
            (k1, k2) = ((ma, da), (mb, db)) if (da == 0) else ((mb, db), (ma, da))
            return k1[1] == 0 and k2[1] > 0 and (k1[0] == 0 or k1[0] == k2[0])
    if kind == "sex_missing":
        return diff == {SEX} and (a[SEX] == "") != (b[SEX] == "")
    if kind == "sex_x":
        return diff == {SEX} and {a[SEX], b[SEX]} in ({"X", "F"}, {"X", "M"})
    if kind == "nat_code_variant":
        return diff <= {NAT, DOCC} and all({a[f], b[f]} == {"D", "DEU"} for f in diff)
    if kind == "nat_status":
        return diff == {NAT} and bool({a[NAT], b[NAT]} & {"XXA", "XXB", "XXC"})
    if kind == "dual_national":
        return diff <= {NAT, DOCC, DOCN, DOCT} and {DOCC, DOCN} <= diff
    if kind == "doc_renewal":
        return diff == {DOCN} and a[DOCN] != "" and b[DOCN] != ""
    if kind == "doc_ocr":
        x, y = a[DOCN], b[DOCN]
        return diff == {DOCN} and len(x) == len(y) and all(_ocr_pair(c, d) for c, d in zip(x, y) if c != d)
    if kind == "doc_typo":
        return diff == {DOCN} and osa_distance(a[DOCN], b[DOCN]) == 1
    if kind == "doc_type_variant":
        return diff == {DOCT} and a[DOCT] != "" and b[DOCT] != ""
    if kind == "value_missing":
        f = list(diff)[0]
        return len(diff) == 1 and (a[f] == "") != (b[f] == "")
    raise KeyError(kind)


class _Check:
    def __init__(self):
        self.failures = 0
        self.passed = 0

    def __call__(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failures += 1
            print("  FAIL:", what)
        return cond


def _check_files(ck, d, n_entries, persons, no_empty=False, label=""):
    """Structural checks on one output directory; returns (entries, exits, truth, persons)."""
    import re
    he, E = _read_csv(os.path.join(d, "entries.csv"))
    hx, X = _read_csv(os.path.join(d, "exits.csv"))
    ht, T = _read_csv(os.path.join(d, "truth.csv"))
    ck(he == COLUMNS and hx == COLUMNS, label + "entries/exits header")
    ck(ht == ["entry_id", "exit_id", "kinds"], label + "truth header")
    ck(len(E) == n_entries, label + "exactly %d entries (got %d)" % (n_entries, len(E)))
    ck(all(len(r) == 12 for r in E + X), label + "12 fields in every record")
    eids = {r[ID] for r in E}
    xids = {r[ID] for r in X}
    ck(len(eids) == len(E), label + "entry ids unique")
    ck(len(xids) == len(X), label + "exit ids unique")
    dob_re = re.compile(r"^\d{4}-\d{2}-\d{2}$")
    at_re = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
    bad = 0
    for r in E + X:
        if r[DOB]:
            if not dob_re.match(r[DOB]):
                bad += 1
                continue
            y, m, dd = parse_dob(r[DOB])
            if m > 12 or (m == 0 and dd != 0) or (m and dd > calendar.monthrange(y, m)[1]):
                bad += 1
        if r[SEX] not in ("F", "M", "X", ""):
            bad += 1
        if not at_re.match(r[AT]) or not (len(r[PORT]) == 4 and r[PORT].isdigit()):
            bad += 1
        if r[NAT] and not (r[NAT].isalpha() and r[NAT].isupper() and len(r[NAT]) in (1, 3)):
            bad += 1
    ck(bad == 0, label + "field formats (%d bad)" % bad)
    if no_empty:
        ck(all(r[DOB] and r[SEX] for r in E + X), label + "--no-empty: no empty date of birth or sex")
    times_e = [r[AT] for r in E]
    ck(times_e == sorted(times_e), label + "entries sorted by time")
    Em = {r[ID]: r for r in E}
    Xm = {r[ID]: r for r in X}
    seen_e, seen_x = set(), set()
    order_ok = dup = missing = 0
    for e, x, k in T:
        if e not in Em or x not in Xm:
            missing += 1
            continue
        if e in seen_e or x in seen_x:
            dup += 1
        seen_e.add(e)
        seen_x.add(x)
        if Xm[x][AT] <= Em[e][AT]:
            order_ok += 1
    ck(missing == 0, label + "every truth id exists (%d missing)" % missing)
    ck(dup == 0, label + "each entry and exit in at most one true pair (%d dup)" % dup)
    ck(order_ok == 0, label + "every true exit is after its entry (%d not)" % order_ok)
    P = None
    if persons:
        hp, P = _read_csv(os.path.join(d, "persons.csv"))
        pe = {(r[0], r[1]): r for r in P}
        ck(len(P) == len(E) + len(X), label + "persons.csv covers every record")
        # the latest-entry rule: each exit closes its person's latest entry before it
        by = {}
        for r in E:
            by.setdefault(pe[("entries", r[ID])][2], []).append((r[AT], 0, r[ID]))
        for r in X:
            by.setdefault(pe[("exits", r[ID])][2], []).append((r[AT], 1, r[ID]))
        expect = {}
        for pid, evs in by.items():
            evs.sort()
            last = None
            for at, kind, rid in evs:
                if kind == 0:
                    last = rid
                else:
                    if last is not None:
                        expect[rid] = last
                    last = None
        truth = {x: e for e, x, _ in T}
        ck(truth == expect, label + "truth = each exit's latest earlier entry of the same person "
           "(%d truth, %d expected, %d differ)" % (len(truth), len(expect),
                                                   len(set(truth.items()) ^ set(expect.items()))))
    return E, X, T, P


def self_test():
    import hashlib
    ck = _Check()
    t_all = time.time()
    root = tempfile.mkdtemp(prefix="second-gen-selftest-")
    try:
        # 1. determinism
        print("[1] determinism")
        digests = []
        for i, seed in enumerate((11, 11, 12)):
            d = os.path.join(root, "det%d" % i)
            Generator(3000, seed=seed, noise="heavy", persons=True).run(d)
            h = hashlib.sha256()
            for f in ("entries.csv", "exits.csv", "truth.csv", "persons.csv"):
                with open(os.path.join(d, f), "rb") as fh:
                    h.update(fh.read())
            digests.append(h.hexdigest())
        ck(digests[0] == digests[1], "same seed gives identical files")
        ck(digests[0] != digests[2], "another seed gives other files")

        # 2. the 100k heavy run
        n = 100_000
        print("[2] %d entries, heavy noise, with persons.csv" % n)
        d = os.path.join(root, "big")
        t0 = time.time()
        m = Generator(n, seed=20240, noise="heavy", persons=True).run(d)
        print("    generated in %.1fs" % (time.time() - t0))
        E, X, T, P = _check_files(ck, d, n, True, label="    ")
        c = m["counts"]
        ck(c["apply_failed"] == 0 and c["slot_conflicts"] == 0, "    no failed applications or slot conflicts")
        ck(len(T) == c["truth"] and len(X) == c["exits"], "    manifest counts match the files")
        Em = {r[ID]: r for r in E}
        Xm = {r[ID]: r for r in X}
        # none pairs identical; single-kind pairs look like their kind
        nonediff = bad_single = n_single = 0
        label_counts = {k: 0 for k in KINDS}
        for e, x, k in T:
            a, b = Em[e], Xm[x]
            if k == "none":
                if any(a[f] != b[f] for f in IDENTITY):
                    nonediff += 1
                continue
            ks = k.split(";")
            for kk in ks:
                label_counts[kk] += 1
            if len(ks) == 1:
                n_single += 1
                if not verify_kind(ks[0], a, b):
                    bad_single += 1
                    if bad_single <= 5:
                        print("    single-kind mismatch:", k, [(COLUMNS[f], a[f], b[f]) for f in IDENTITY if a[f] != b[f]])
        ck(nonediff == 0, "    pairs labelled none have identical identity fields (%d differ)" % nonediff)
        ck(bad_single == 0, "    %d single-kind pairs all show exactly their kind (%d do not)" % (n_single, bad_single))
        ck(all(label_counts[k] == m["kinds"][k]["applied"] for k in KINDS), "    truth labels = applied counters")
        # rates
        print("    %-22s %8s %8s %9s %8s" % ("kind", "rate", "eligible", "observed", "tol"))
        for k in KINDS:
            st = m["kinds"][k]
            p_, e_, a_ = st["rate"], st["eligible"], st["applied"]
            if e_ == 0:
                ck(p_ == 0 or k in ("dob_missing", "sex_missing"), "    %s never eligible" % k)
                continue
            obs = a_ / e_
            tol = 4.5 * math.sqrt(p_ * (1 - p_) / e_) + 0.001
            print("    %-22s %8.4f %8d %9.4f %8.4f" % (k, p_, e_, obs, tol))
            ck(abs(obs - p_) <= tol, "    rate of %s within tolerance (%.4f vs %.4f +- %.4f)" % (k, obs, p_, tol))
            ck(e_ >= 150, "    %s eligible often enough to measure (%d)" % (k, e_))
        # population shape
        rels = {}
        for r in P:
            rels[r[5]] = rels.get(r[5], 0) + 1
        for rel in ("single", "namesake", "spouse", "parent", "child", "sibling", "twin", "senior",
                    "junior", "unmatched", "unmatched-namesake", "prior-exit"):
            ck(rels.get(rel, 0) > 0, "    population has %s records" % rel)
        ck(abs(c["unmatched_exits"] / n - m["population"]["unmatched_exit_rate"]
               - c["prior_exits"] / n) < 0.01, "    unmatched exit rate as configured")
        ck(0.03 < c["entries_without_exit"] / n < 0.3, "    some entries have no exit (%.3f)" % (c["entries_without_exit"] / n))
        # the same exit's person is the entry's person
        pe = {(r[0], r[1]): r[2] for r in P}
        ck(all(pe[("entries", e)] == pe[("exits", x)] for e, x, _ in T), "    truth pairs one person")
        del E, X, T, P, Em, Xm

        # 3. confounder builders
        print("[3] confounders")
        g = Generator(10, seed=5)
        tw_ok = sj_ok = ns_ok = sib_ok = 0
        for i in range(300):
            tw = [p for p in g.hh_twins(g.pick(g.origins, g.origin_cw), i) if p.rel == "twin"]
            tw_ok += (len({p.base[3] for p in tw}) == 1 and len({p.base[0] for p in tw}) == len(tw)
                      and all(g.doc_next(tw[j].docn) == tw[j + 1].docn for j in range(len(tw) - 1))
                      and len({_letters(p.base[2])[:4] for p in tw}) == 1)
            f, s_ = g.hh_senior_junior("EN", i)
            sj_ok += (f.given[0][1] == s_.given[0][1] and f.fam_str() == s_.fam_str() and f.dob != s_.dob)
            sb = g.hh_siblings(g.pick(g.origins, g.origin_cw), i)
            sib_ok += (len({p.fam_str() for p in sb}) <= 2 and len({p.dob for p in sb}) == len(sb))
            a = g.namesake(i, "namesake")
            ns_ok += bool(a.base[0] and (a.base[2] or a.origin == "IN"))
        ck(tw_ok == 300, "twins: same birth date and family name, different given names, consecutive documents (%d/300)" % tw_ok)
        ck(sj_ok == 300, "senior/junior: same names, different birth dates (%d/300)" % sj_ok)
        ck(sib_ok >= 295, "siblings: shared family name, distinct birth dates (%d/300)" % sib_ok)
        ck(ns_ok == 300, "namesakes have common names")

        # 4. --no-empty
        print("[4] --no-empty")
        d = os.path.join(root, "noempty")
        Generator(20000, seed=3, noise="heavy", no_empty=True).run(d)
        _check_files(ck, d, 20000, False, no_empty=True, label="    ")

        # 5. one file per kind
        print("[5] --only KIND (1500 entries each)")
        for k in KINDS:
            d = os.path.join(root, "only-" + k)
            m = Generator(1500, seed=99, noise="heavy", only=k).run(d)
            E, X, T, _ = _check_files(ck, d, 1500, False, label="    %s: " % k)
            Em = {r[ID]: r for r in E}
            Xm = {r[ID]: r for r in X}
            wrong = sum(1 for _, _, kk in T if kk != k)
            bad = [(e, x) for e, x, kk in T if not verify_kind(k, Em[e], Xm[x])]
            dropped = m["counts"]["only_dropped_exits"]
            print("    %-22s %5d pairs, %3d dropped, %d mislabelled, %d not showing the kind"
                  % (k, len(T), dropped, wrong, len(bad)))
            ck(wrong == 0, "    %s: every pair labelled with exactly this kind" % k)
            ck(not bad, "    %s: every pair shows this kind" % k)
            for e, x in bad[:3]:
                print("      e.g.", [(COLUMNS[f], Em[e][f], Xm[x][f]) for f in IDENTITY if Em[e][f] != Xm[x][f]])
            ck(len(T) >= 1000 and dropped <= 0.02 * len(T), "    %s: enough pairs (%d, %d dropped)" % (k, len(T), dropped))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("self-test: %d checks passed, %d failed (%.0fs)" % (ck.passed, ck.failures, time.time() - t_all))
    return 1 if ck.failures else 0


if __name__ == "__main__":
    sys.exit(main())
