"""Tests of the SDK outside a component: `cd guest-sdks/python && python3 -m unittest`."""

import unittest

from cordon_sdk import KINDS, ToolError, exports, log


class ToolErrorTest(unittest.TestCase):
    def test_errors_read_kind_colon_message(self):
        e = ToolError.invalid_input("row 3 has 2 fields, the header 3")
        self.assertEqual(str(e), "invalid_input: row 3 has 2 fields, the header 3")
        self.assertEqual((e.kind, e.message), ("invalid_input", "row 3 has 2 fields, the header 3"))

    def test_every_kind_has_a_constructor(self):
        for kind in KINDS:
            self.assertEqual(getattr(ToolError, kind)("m").kind, kind)

    def test_an_unknown_kind_is_refused(self):
        with self.assertRaises(ValueError):
            ToolError("oops", "m")


class LogTest(unittest.TestCase):
    def test_fields_come_from_a_dict_and_keywords_as_strings(self):
        with self.assertLogs("cordon_sdk", "DEBUG") as logs:
            log.info("summarised a table", {"rows": 2}, message="x", fields=True)
        record = logs.records[0]
        self.assertEqual(record.getMessage(), "summarised a table rows=2 message=x fields=True")
        self.assertEqual(record.cordon_fields, [("rows", "2"), ("message", "x"), ("fields", "True")])

    def test_levels(self):
        with self.assertLogs("cordon_sdk", 1) as logs:
            for emit in (log.trace, log.debug, log.info, log.warn, log.error):
                emit("m")
        self.assertEqual([r.levelno for r in logs.records], [5, 10, 20, 30, 40])


class ExportsTest(unittest.TestCase):
    def test_outside_a_component_the_functions_are_plain(self):
        def count_words(text):
            return len(text.split())

        world = exports(count_words, words=count_words)
        self.assertEqual(world().count_words("a b"), 2)
        self.assertEqual(world.words("a b c"), 3)


if __name__ == "__main__":
    unittest.main()
