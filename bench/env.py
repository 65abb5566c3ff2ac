#!/usr/bin/env python3
"""Print the machine and tool versions of a bench/ run as JSON (own code).

Used by bench/run-all.sh (written to OUT/env.json) so bench/RESULTS.md can say what
was measured where: date, nproc, CPU model, kernel, memory, load, tool versions and
the gauntlet revision.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import tool_path  # noqa: E402



def first_line(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e.__class__.__name__})"
    text = (p.stdout + p.stderr).strip()
    return text.splitlines()[0] if text else "unavailable"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total_gib() -> float:
    with open("/proc/meminfo") as f:
        kb = int(f.readline().split()[1])
    return round(kb / 1024 / 1024, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", default="0")
    ap.add_argument("--reps", default="3")
    a = ap.parse_args()
    rev_file = tool_path("gauntlet") + ".rev"  # written by bench/setup.sh
    try:
        with open(rev_file) as f:
            rev = f.read().strip()
        # A binary rebuilt by hand after setup.sh is not what the label says.
        if os.path.getmtime(tool_path("gauntlet")) > os.path.getmtime(rev_file) + 1:
            rev = f"unknown revision (rebuilt after bench/setup.sh labelled it {rev})"
    except OSError:
        rev = "unknown revision (binary not built by bench/setup.sh)"
    env = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "mem_gib": mem_total_gib(),
        "loadavg_start": os.getloadavg(),
        "quick": a.quick == "1",
        "reps": int(a.reps),
        "gauntlet_rev": rev,
        "versions": {
            "gauntlet": first_line([tool_path("gauntlet"), "--version"]),
            "wrk": first_line(["wrk", "-v"]),
            "oha": first_line([tool_path("oha"), "--version"]),
            "h2load": first_line(["h2load", "--version"]),
            "k6": first_line([tool_path("k6"), "version"]),
            "nginx": first_line(["/usr/sbin/nginx", "-v"]),
        },
    }
    print(json.dumps(env, indent=1))


if __name__ == "__main__":
    main()
