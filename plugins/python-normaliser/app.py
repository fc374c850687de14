"""entrex normaliser plugin written in Python (world `normaliser`).

Reads a pipe-separated batch, one record per non-empty line:

    record_id|family|given|middle|birth_date|sex|nationality|doc_type|doc_number|doc_country|entry_time|port|mode

See README.md for the format. Nothing here may raise on bad input: an
uncaught exception is a trap, and a trap costs the hub the whole instance.
Errors the contract allows are returned (`Err` from `split`, rejections from
`normalise`); anything unforeseen becomes a rejection too.
"""

import json
import re

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import log
from wit_world.imports.types import Crossing, Mode, PartialDate, Rejection, Sex, SourceRecord

FIELDS = (
    "record_id", "family", "given", "middle", "birth_date", "sex", "nationality",
    "doc_type", "doc_number", "doc_country", "entry_time", "port", "mode",
)
SEXES = {"F": Sex.FEMALE, "M": Sex.MALE, "X": Sex.UNSPECIFIED}
MODES = {m.name: m for m in Mode}  # VEHICLE, PEDESTRIAN, FERRY, RAIL, BUS, SEA

DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})\Z", re.ASCII)
TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z",
    re.ASCII,
)
CODE = re.compile(r"[A-Za-z]{3}\Z", re.ASCII)
DOC_TYPE = re.compile(r"[A-Za-z]{1,2}\Z", re.ASCII)
DOC_NUMBER = re.compile(r"[A-Za-z0-9]{1,20}\Z", re.ASCII)
PORT = re.compile(r"[A-Za-z0-9]{1,8}\Z", re.ASCII)
RECORD_ID = re.compile(r"[\x21-\x7e]{1,64}\Z", re.ASCII)


class Configurable(exports.Configurable):
    def configure(self, config_json: str) -> None:
        try:
            config = json.loads(config_json)
        except Exception:
            raise Err("the configuration is not JSON; the hub passes {} when there is none")
        if not isinstance(config, dict):
            raise Err("the configuration must be a table (a JSON object)")
        if config:
            key = next(iter(config))
            raise Err(f"unknown configuration key `{key}`: python-normaliser takes no "
                      "configuration; remove it from its config table")


class Normalise(exports.Normalise):
    def split(self, batch: bytes) -> list:
        try:
            text = batch.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Err(f"the batch is not UTF-8 (byte {e.start}); send UTF-8 text, one "
                      "pipe-separated record per line")
        if text.startswith("\ufeff"):
            text = text[1:]
        records = []
        # Split on LF only: str.splitlines() would also cut at U+2028, FS, etc.
        for number, line in enumerate(text.split("\n"), start=1):
            line = line.rstrip("\r")
            if line.strip():
                records.append(SourceRecord(location=f"line {number}", data=line.encode("utf-8")))
        return records

    def normalise(self, records: list) -> list:
        results = []
        for record in records:
            try:
                results.append(Ok(normalise_line(record.data)))
            except Rejected as r:
                results.append(Err(r.rejection))
            except Exception as e:  # a bug here must not trap the instance
                results.append(Err(Rejection(
                    field=None, reason=f"internal error in python-normaliser ({type(e).__name__})")))
        try:
            log.log(log.Level.INFO, f"normalised {len(records)} records")
        except Exception:
            pass
        return results


class Rejected(Exception):
    def __init__(self, field, reason):
        self.rejection = Rejection(field=field, reason=reason)


def normalise_line(data: bytes) -> Crossing:
    try:
        line = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(None, "the record is not UTF-8 text")
    values = [v.strip() for v in line.split("|")]
    if len(values) != len(FIELDS):
        raise Rejected(None, f"the record has {len(values)} fields, expected {len(FIELDS)} "
                             f"separated by '|': {'|'.join(FIELDS)}")
    v = dict(zip(FIELDS, values))

    # Checked in column order, so the first bad column is the one reported.
    if not RECORD_ID.match(v["record_id"]):
        raise Rejected("record_id", "required: 1-64 printable ASCII characters without spaces")
    family = name(v["family"])
    if not family:
        raise Rejected("family", "required: the family name as on the document")
    born = birth_date(v["birth_date"])
    sex = SEXES.get(ascii_upper(v["sex"]))
    if sex is None:
        raise Rejected("sex", f"'{v['sex']}' is not a sex on a travel document; write F, M or X")
    nationality = code("nationality", v["nationality"])
    if not DOC_TYPE.match(v["doc_type"]):
        raise Rejected("doc_type", "required: the ICAO document code, 1-2 letters (P, I, ID, AC...)")
    if not DOC_NUMBER.match(v["doc_number"]):
        raise Rejected("doc_number", "required: 1-20 letters or digits")
    document_country = code("doc_country", v["doc_country"])
    crossed_at = entry_time(v["entry_time"])
    if not PORT.match(v["port"]):
        raise Rejected("port", "required: the port code, 1-8 letters or digits")
    mode = MODES.get(ascii_upper(v["mode"]))
    if mode is None:
        raise Rejected("mode", f"'{v['mode']}' is not a mode; write one of "
                               "vehicle, pedestrian, ferry, rail, bus, sea")
    return Crossing(
        source_ref=v["record_id"],
        given_names=name(v["given"]),
        middle_names=name(v["middle"]),
        family_name=family,
        date_of_birth=born,
        sex=sex,
        nationality=nationality,
        document_type=v["doc_type"].upper(),
        document_number=v["doc_number"].upper(),
        document_country=document_country,
        crossed_at=crossed_at,
        port_code=v["port"].upper(),
        mode=mode,
        citizenships=[nationality],
        residency=[],
        authorised_stay_until=None,
    )


def ascii_upper(value: str) -> str:
    """Upper case for keywords; "ſea".upper() would be "SEA"."""
    return value.upper() if value.isascii() else value


def name(value: str) -> str:
    """Inner white space collapsed, Unicode upper case (Müller -> MÜLLER)."""
    return " ".join(value.split()).upper()


def code(field: str, value: str) -> str:
    if not CODE.match(value):
        raise Rejected(field, f"'{value}' is not a three-letter ICAO 9303 code; write "
                              "ISO 3166-1 alpha-3 (CAN, USA, FRA...) or XXA, UNO...")
    return value.upper()


def days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def birth_date(value: str) -> PartialDate:
    m = DATE.match(value)
    if m:
        year, month, day = (int(g) for g in m.groups())
        if (year >= 1 and month <= 12 and not (month == 0 and day != 0)
                and (month == 0 or day <= days_in_month(year, month))):
            return PartialDate(year=year, month=month or None, day=day or None)
    raise Rejected("birth_date", f"'{value}' is not a date; write YYYY-MM-DD, with 00 "
                                 "for an unknown month or day (1980-06-00, 1980-00-00)")


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def entry_time(value: str) -> int:
    m = TIME.match(value)
    if m:
        y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
        if (y >= 1 and 1 <= mo <= 12 and 1 <= d <= days_in_month(y, mo)
                and h <= 23 and mi <= 59 and s <= 60):
            seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + min(s, 59)
            if m.group(8):  # numeric offset: local time = UTC + offset
                offset = int(m.group(9)) * 3600 + int(m.group(10)) * 60
                if int(m.group(9)) <= 23 and int(m.group(10)) <= 59:
                    return seconds - offset if m.group(8) == "+" else seconds + offset
            else:
                return seconds
    raise Rejected("entry_time", f"'{value}' is not an RFC 3339 time; write "
                                 "2026-11-21T14:03:00Z or 2026-11-21T09:03:00-05:00")
