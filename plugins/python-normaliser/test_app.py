"""Tests of app.py under plain CPython (3.11+), without wasmtime or the hub.

Run with the generated bindings on the path (build.sh does this):
    componentize-py -d ../../wit -w normaliser bindings /tmp/bindings
    PYTHONPATH=/tmp/bindings python3 -m unittest test_app
"""

import unittest

from componentize_py_types import Err, Ok
from wit_world.imports.types import Mode, PartialDate, Sex, SourceRecord

import app

GOOD = ("CA-1|Müller|Hans|Peter  Karl|1984-03-07|M|deu|P|c01x00t47|DEU|"
        "2026-11-21T09:03:00-05:00|YVR1|vehicle")


def rec(line):
    return SourceRecord(location="line 1", data=line.encode())


def replace(field, value):
    values = GOOD.split("|")
    values[app.FIELDS.index(field)] = value
    return "|".join(values)


class Tests(unittest.TestCase):
    def setUp(self):
        self.n = app.Normalise()

    def rejected(self, line):
        [result] = self.n.normalise([rec(line)])
        self.assertIsInstance(result, Err)
        return result.value

    def test_configure(self):
        app.Configurable().configure("{}")
        for bad in ('{"strict": true}', "[]", "not json"):
            with self.assertRaises(Err):
                app.Configurable().configure(bad)

    def test_split(self):
        batch = "\ufeffa|b\r\n\n   \nc|d\u2028e\n".encode()
        records = self.n.split(batch)
        self.assertEqual([(r.location, r.data) for r in records],
                         [("line 1", b"a|b"), ("line 4", "c|d\u2028e".encode())])
        self.assertEqual(self.n.split(b""), [])
        with self.assertRaises(Err):
            self.n.split(b"\xff\xfe")

    def test_good_record(self):
        [result] = self.n.normalise([rec(GOOD)])
        self.assertIsInstance(result, Ok)
        c = result.value
        self.assertEqual((c.family_name, c.given_names, c.middle_names), ("MÜLLER", "HANS", "PETER KARL"))
        self.assertEqual(c.date_of_birth, PartialDate(1984, 3, 7))
        self.assertEqual((c.sex, c.mode), (Sex.MALE, Mode.VEHICLE))
        self.assertEqual((c.nationality, c.document_country, c.citizenships), ("DEU", "DEU", ["DEU"]))
        self.assertEqual((c.document_type, c.document_number, c.port_code), ("P", "C01X00T47", "YVR1"))
        self.assertEqual(c.crossed_at, 1795269780)  # 2026-11-21T14:03:00Z
        self.assertEqual((c.residency, c.authorised_stay_until), ([], None))

    def test_partial_birth_date(self):
        [result] = self.n.normalise([rec(replace("birth_date", "1980-00-00"))])
        self.assertEqual(result.value.date_of_birth, PartialDate(1980, None, None))

    def test_rejections_name_the_field(self):
        cases = {
            "birth_date": ["1990-02-30", "1990-13-01", "1990-00-05", "90-01-01", ""],
            "sex": ["Q", ""],
            "nationality": ["DE", "DEUT", "D3U"],
            "doc_country": ["", "USAA"],
            "entry_time": ["2026-11-21 14:03", "2026-11-21T14:03:00", "2026-02-29T00:00:00Z"],
            "mode": ["plane", "\u017fea"],  # long s: "ſea".upper() == "SEA"
            "family": [" "],
            "doc_type": ["PPP"],
            "doc_number": ["AB-12"],
            "port": [""],
            "record_id": ["a b"],
        }
        for field, values in cases.items():
            for value in values:
                with self.subTest(field=field, value=value):
                    self.assertEqual(self.rejected(replace(field, value)).field, field)

    def test_first_bad_column_is_reported(self):
        line = replace("mode", "plane").replace("1984-03-07", "1984-02-30")
        self.assertEqual(self.rejected(line).field, "birth_date")

    def test_field_count_and_bad_bytes(self):
        self.assertIsNone(self.rejected("a|b|c").field)
        self.assertIsNone(self.rejected(GOOD + "|extra").field)
        [result] = self.n.normalise([SourceRecord("line 1", b"\xff|")])
        self.assertIsNone(result.value.field)

    def test_one_result_per_record_in_order(self):
        results = self.n.normalise([rec(GOOD), rec("x"), rec(GOOD)])
        self.assertEqual([type(r) for r in results], [Ok, Err, Ok])


if __name__ == "__main__":
    unittest.main()
