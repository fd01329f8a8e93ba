"""Tests of `{{name}}`'s functions, run on this machine: `python3 -m unittest`.

Outside a component there are no generated bindings: the functions are called directly,
and `cordon_sdk.log` writes to the standard `logging` module (checked with `assertLogs`).
"""

import sys
import unittest

# The SDK `cordon new` found; `cordon build` gives componentize-py the same directory.
sys.path.insert(0, r"{{sdk}}")

from cordon_sdk import ToolError  # noqa: E402

from app import summarize  # noqa: E402


class SummarizeTest(unittest.TestCase):
    def test_summarises_a_small_table(self):
        s = summarize("city,population\nOslo,709000\nBergen,291000\n")
        self.assertEqual(s.rows, 2)
        self.assertIsNone(s.columns[0].numeric)
        population = s.columns[1].numeric
        self.assertEqual((population.min, population.max), (291000.0, 709000.0))

    def test_a_ragged_row_is_invalid_input(self):
        with self.assertRaises(ToolError) as caught:
            summarize("a,b\n1\n")
        self.assertEqual(caught.exception.kind, "invalid_input")
        self.assertEqual(str(caught.exception), "invalid_input: row 1 has 1 fields, the header 2")

    def test_logs_the_row_count(self):
        with self.assertLogs("cordon_sdk", "INFO") as logs:
            summarize("a\n1\n2\n3\n")
        self.assertEqual(logs.records[0].cordon_fields, [("rows", "3")])


if __name__ == "__main__":
    unittest.main()
