"""Print every sample of a Prometheus text page as JSON lines, parsed by the
Prometheus project's own Python client: the reference tests/targets.rs holds
our parser to. Usage: python3 reference_parse.py PAGE.txt"""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1], encoding="utf-8").read()
for family in text_string_to_metric_families(text):
    for s in family.samples:
        v = s.value
        value = "NaN" if math.isnan(v) else ("+Inf" if v == math.inf else ("-Inf" if v == -math.inf else repr(float(v))))
        print(json.dumps({"name": s.name, "labels": dict(sorted(s.labels.items())), "value": value}))
