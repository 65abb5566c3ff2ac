#!/usr/bin/env python3
"""Write the markdown report of one bench/ run (own code): bench/report.py OUT > RESULTS.md

OUT is a directory written by bench/run-all.sh: env.json and one sub-directory per
figure with results.jsonl. Every figure is shown as the median with [min–max] over
the repetitions; ratios are taken per repetition round (runs minutes apart,
interleaved) and then their median is shown, which cancels most of the drift of a
shared machine.
"""
from __future__ import annotations

import json
import os
import re
import statistics
import sys
from collections import defaultdict

BENCH = os.path.dirname(os.path.abspath(__file__))
PEERS = ["wrk", "oha", "h2load", "k6", "gauntlet"]


def load(d: str) -> list[dict]:
    f = os.path.join(d, "results.jsonl")
    if not os.path.exists(f):
        return []
    with open(f) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def fmt(x, nd=0):
    if x is None:
        return "–"
    return f"{x:,.{nd}f}"


def mmm(xs, nd=0, unit=""):
    """median [min–max] of the values that are present"""
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    if len(xs) == 1:
        return fmt(xs[0], nd) + unit
    return f"{fmt(statistics.median(xs), nd)}{unit} [{fmt(min(xs), nd)}–{fmt(max(xs), nd)}]"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ok(r) -> bool:
    return r["rc"] == 0 and not r.get("killed")


def tr(r, k):
    return (r.get("tool_report") or {}).get(k)


def rss_mib(r):
    return max(r.get("maxrss_kb") or 0, r.get("peak_tree_rss_kb") or 0) / 1024


def requests(r):
    """Requests counted by the server; the tool's own count where the target has no counter."""
    return r.get("server_requests") or tr(r, "requests")


def req_per_cpu_s(r):
    n = requests(r)
    return n / r["cpu_s"] if n and r["cpu_s"] > 0 else None


def cpu_per_100k(r):
    n = requests(r)
    return r["cpu_s"] / n * 1e5 if n else None


def round_ratios(recs, key, a, b, group=lambda r: ()):
    """per-round ratios key(a)/key(b), rounds keyed by (group, rep)"""
    by = defaultdict(dict)
    for r in recs:
        by[(group(r), r["rep"])][r["variant"]] = key(r)
    out = []
    for rnd in by.values():
        x, y = rnd.get(a), rnd.get(b)
        if x and y:
            out.append(x / y)
    return out


def variants(recs):
    return list(dict.fromkeys(r["variant"] for r in recs))


def load_note(recs):
    l1 = [r.get("load1_before") for r in recs]
    oc = [r.get("other_cores") for r in recs]
    return (f"Machine load: 1-min load average before each run {mmm(l1, 1)}; cores used by other "
            f"processes during a run {mmm(oc, 2)} (of 2).")


def sanitize(cmd: str, outdir: str) -> str:
    cmd = cmd.replace(os.path.abspath(outdir) + "/", "$OUT/").replace(outdir.rstrip("/") + "/", "$OUT/")
    cmd = re.sub(r"(?<![\w$])/\S*/(oha|k6|gauntlet)(?=\s|$)", lambda m: m.group(1), cmd)
    return cmd.replace(BENCH + "/", "bench/")


def commands(recs, outdir, key=lambda r: (r["variant"],)):
    seen, rows = set(), []
    for r in recs:
        k = key(r)
        if k in seen:
            continue
        seen.add(k)
        rows.append(f"- {' / '.join(str(x) for x in k)}: `{sanitize(r['cmd'], outdir)}`")
    return "\n".join(rows)


# ----------------------------------------------------------------------------
def throughput(out, name, title):
    recs = load(os.path.join(out, name))
    if not recs:
        return "", {}
    ref = "wrk"
    rows = [f"### {title}\n",
            "| tool | req per gen CPU-s | ratio to wrk | server-counted req/s | req/s ratio to wrk "
            "| gen CPU s per 100k req | peak RSS MiB | gen threads | runs ok |",
            "|---|---|---|---|---|---|---|---|---|"]
    summary = {}
    all_good = [r for r in recs if ok(r)]
    for t in variants(recs):
        rs = [r for r in recs if r["variant"] == t]
        good = [r for r in rs if ok(r)]
        summary[t] = mmm([req_per_cpu_s(r) for r in good])
        summary[(t, "ratio")] = mmm(round_ratios(all_good, req_per_cpu_s, t, ref), 2)
        rows.append("| " + " | ".join([
            t, mmm([req_per_cpu_s(r) for r in good]),
            mmm(round_ratios(all_good, req_per_cpu_s, t, ref), 2),
            mmm([r.get("server_steady_rps") for r in good]),
            mmm(round_ratios(all_good, lambda r: r.get("server_steady_rps"), t, ref), 2),
            mmm([cpu_per_100k(r) for r in good], 2), mmm([rss_mib(r) for r in good], 1),
            mmm([r.get("gen_threads") for r in good]), f"{len(good)}/{len(rs)}"]) + " |")
    rows += ["", load_note(recs), "", "Commands:", "", commands(recs, os.path.join(out, name)), ""]
    return "\n".join(rows), summary


def rss(out):
    recs = load(os.path.join(out, "rss"))
    if not recs:
        return "", {}
    levels = sorted({r["c"] for r in recs})
    rows = ["### Peak RSS at 1,000 and 10,000 connections / VUs\n",
            "gauntlet and k6 run that many VUs, each sending a GET and then thinking 1 s (so "
            "every VU keeps an idle keep-alive connection); wrk, oha and h2load open that many "
            "connections and send as fast as they can (they have no think time). Peak RSS is "
            "the larger of wait4's max RSS and the polled RSS of the process tree.\n",
            "| tool | connections / VUs | peak RSS MiB | ratio to wrk | server-counted req/s "
            "| gen CPU s | conns accepted by nginx | runs ok |",
            "|---|---|---|---|---|---|---|---|"]
    summary = {}
    for lv in levels:
        lr = [r for r in recs if r["c"] == lv]
        lr_good = [r for r in lr if ok(r)]
        for t in variants(lr):
            rs = [r for r in lr if r["variant"] == t]
            good = [r for r in rs if ok(r)]
            summary[(t, lv)] = mmm([rss_mib(r) for r in good], 0)
            rows.append("| " + " | ".join([
                t, f"{lv:,}", mmm([rss_mib(r) for r in good], 1),
                mmm(round_ratios(lr_good, rss_mib, t, "wrk"), 2),
                mmm([r.get("server_steady_rps") for r in good]),
                mmm([r["cpu_s"] for r in good], 2),
                mmm([r.get("server_conns_accepted") for r in good]),
                f"{len(good)}/{len(rs)}"]) + " |")
    bad = [r for r in recs if not ok(r)]
    rows += [""] + [f"Failed run: {r['variant']} at {r['c']:,}: rc={r['rc']} killed={r.get('killed')} "
                    f"(raw output `{r['tag']}.err`)." for r in bad]
    rows += ["", load_note(recs), "", "Commands:", "",
             commands(recs, os.path.join(out, "rss"), key=lambda r: (r["variant"], r["c"])), ""]
    return "\n".join(rows), summary


def lat(good, key):
    """median of the tool's latency; for gauntlet 'corrected / raw'"""
    cor = med([tr(r, key) for r in good])
    raw = med([(tr(r, "raw") or {}).get(key) for r in good])
    if cor is None:
        return "–"
    return f"{cor:,.2f}" + (f" / {raw:,.2f}" if raw is not None else "")


def rate(out, ceiling):
    recs = load(os.path.join(out, "rate"))
    if not recs:
        return "", {}
    rows = ["### Arrival-rate accuracy\n",
            "Accuracy = requests counted by nginx per second over the steady part of the run "
            "(first and last 0.2 s dropped) / target rate. wrk has no rate mode (wrk2 is not in "
            "Debian), so CPU ratios here are against **h2load**.\n",
            "| tool | target /s | achieved /s (server) | accuracy | total / (target × duration) "
            "| gen CPU s per 100k req | CPU/req ratio to h2load | dropped iterations "
            "| p50 ms (tool) | p99 ms (tool) | peak RSS MiB | runs ok |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    summary = {}
    for target in sorted({r["rate"] for r in recs}):
        lr = [r for r in recs if r["rate"] == target]
        lr_good = [r for r in lr if ok(r)]
        for t in variants(lr):
            rs = [r for r in lr if r["variant"] == t]
            good = [r for r in rs if ok(r)]
            acc = [r["server_steady_rps"] / target * 100 if r.get("server_steady_rps") else None
                   for r in good]
            summary[(t, target)] = mmm(acc, 1, " %")
            summary[(t, target, "cpu")] = mmm([cpu_per_100k(r) for r in good], 2)
            rows.append("| " + " | ".join([
                t, f"{target:,}", mmm([r.get("server_steady_rps") for r in good]), mmm(acc, 1, " %"),
                mmm([(r.get("server_requests") or 0) / (target * r["d"]) * 100 for r in good], 1, " %"),
                mmm([cpu_per_100k(r) for r in good], 2),
                mmm(round_ratios(lr_good, cpu_per_100k, t, "h2load"), 2),
                mmm([tr(r, "dropped_iterations") for r in good]),
                lat(good, "p50_ms"), lat(good, "p99_ms"), mmm([rss_mib(r) for r in good]),
                f"{len(good)}/{len(rs)}"]) + " |")
    rows.append("\nFor gauntlet the latency cells are *corrected / raw*: corrected counts from the "
                "intended start of each iteration, raw from the actual send (docs/metrics.md).")
    if ceiling:
        top = max(r["rate"] for r in recs)
        rows.append(f"\nThe target's ceiling: wrk's closed-loop rate against the same nginx in "
                    f"this run was {fmt(ceiling)} req/s (throughput figure). "
                    + (f"The highest target rate ({top:,}/s) is below it, so a shortfall there "
                       f"is the generator's." if top < ceiling else
                       f"The highest target rate ({top:,}/s) is above it: accuracy there is "
                       f"bounded by the target, not the generator."))
    rows += ["", load_note(recs), "", "Commands:", "",
             commands(recs, os.path.join(out, "rate"), key=lambda r: (r["variant"], r["rate"])), ""]
    return "\n".join(rows), summary


def co(out):
    recs = load(os.path.join(out, "co"))
    if not recs:
        return "", {}
    rate_, d = recs[0]["rate"], recs[0]["d"]
    rows = ["### Coordinated-omission stall test\n",
            f"Stall server: 1 ms service time, frozen 1 s out of every 5 s. Open-loop arrivals "
            f"at {rate_:,}/s for {d} s: 20 % of requests arrive during a stall and wait U(0, 1 s) "
            f"plus ~1 ms, 80 % see ~1 ms, hence the analytic row. Latencies in ms, median "
            f"[min–max] over the runs.\n",
            "| tool / mode | p50 | p90 | p99 | p99.9 | max | requests (tool) | dropped | runs ok |",
            "|---|---|---|---|---|---|---|---|---|",
            "| **analytic truth** | ≈1 | ≈501 | ≈951 | ≈996 | ≈1001 | "
            f"{rate_ * d:,} | 0 | – |"]
    summary = {}
    for v in variants(recs):
        rs = [r for r in recs if r["variant"] == v]
        good = [r for r in rs if ok(r)]
        cells = [mmm([tr(r, k) for r in good], 1) for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms")]
        summary[v] = cells
        rows.append("| " + " | ".join([v] + cells + [
            mmm([tr(r, "requests") for r in good]), mmm([tr(r, "dropped_iterations") for r in good]),
            f"{len(good)}/{len(rs)}"]) + " |")
        raws = [tr(r, "raw") for r in good if tr(r, "raw")]
        if raws:
            rows.append("| " + " | ".join(
                [v + " — raw (from actual send)"]
                + [mmm([x.get(k) for x in raws], 1) for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms")]
                + ["", "", ""]) + " |")
    rows += ["", load_note(recs), "", "Commands:", "", commands(recs, os.path.join(out, "co")), ""]
    return "\n".join(rows), summary


def flow(out):
    recs = load(os.path.join(out, "flow"))
    if not recs:
        return "", {}
    rows = ["### Cost of a 3-step flow\n",
            "gauntlet runs `create → read → update` (POST with a JSON body, capture `$.id`, GET by "
            "id with a jsonPath check, PUT) against `gauntlet demo`, and a plain `GET /health` with "
            "a status check, at the same **request** rate (the flow at a third of the iteration "
            "rate). Requests are gauntlet's own `http_reqs` count.\n",
            "| variant | iterations /s | requests | gen CPU s per 100k req | ratio to plain GET "
            "| failed requests | checks failed | runs ok |",
            "|---|---|---|---|---|---|---|---|"]
    summary = {}
    base = "gauntlet plain GET"
    all_good = [r for r in recs if ok(r)]
    for v in variants(recs):
        rs = [r for r in recs if r["variant"] == v]
        good = [r for r in rs if ok(r)]
        ratio = round_ratios(all_good, cpu_per_100k, v, base) if v != base else [1.0]
        summary[v] = mmm(ratio, 2)
        rows.append("| " + " | ".join([
            v, f"{rs[0]['rate']:,}", mmm([tr(r, "requests") for r in good]),
            mmm([cpu_per_100k(r) for r in good], 2), mmm(ratio, 2),
            mmm([tr(r, "errors") for r in good]), mmm([tr(r, "checks_fails") for r in good]),
            f"{len(good)}/{len(rs)}"]) + " |")
    rows += ["", load_note(recs), "", "Commands:", "", commands(recs, os.path.join(out, "flow")), ""]
    return "\n".join(rows), summary


def loaded_summary(out):
    parts = []
    for name in ("throughput", "throughput-hyper", "rss", "rate", "co", "flow"):
        recs = load(os.path.join(out, name))
        oc = med([r.get("other_cores") for r in recs])
        if oc is not None:
            parts.append(f"{name} {oc:.2f}" + (" (loaded)" if oc > 0.3 else " (quiet)"))
    return "; ".join(parts) or "not recorded"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    with open(os.path.join(out, "env.json")) as f:
        env = json.load(f)
    tp, tps = throughput(out, "throughput", "Requests per generator CPU-second — GET, 64 connections, nginx")
    tph, _ = throughput(out, "throughput-hyper", "Same against the minimal hyper server (bench/targets)")
    rs, rss_s = rss(out)
    wrk_rps = [r.get("server_steady_rps") for r in load(os.path.join(out, "throughput"))
               if r["variant"] == "wrk" and ok(r)]
    rt, rate_s = rate(out, med(wrk_rps) if wrk_rps else None)
    c, co_s = co(out)
    fl, flow_s = flow(out)

    v = env["versions"]
    mode = "quick (`--quick`: shorter runs)" if env["quick"] else "full"
    lines = [
        "# bench/RESULTS.md — gauntlet side by side with wrk, oha, h2load and k6",
        "",
        "Written by `bench/run-all.sh` (the tables come from `bench/report.py`); do not edit by hand.",
        "",
        f"- Date: {env['date_utc']}; mode: {mode}, {env['reps']} repetitions per figure, tools "
        f"interleaved in every repetition (gauntlet, wrk, oha, h2load, k6).",
        f"- Machine: {env['nproc']} cores, {env['cpu_model']}, kernel {env['kernel']}, "
        f"{env['mem_gib']} GiB RAM; load average at start "
        f"{', '.join(f'{x:.2f}' for x in env['loadavg_start'])}.",
        "- Pinning: targets on core 0, generator on core 1 (`taskset`), the runner on core 0.",
        f"- gauntlet: {v['gauntlet']} at {env['gauntlet_rev']} (release, `CARGO_TARGET_DIR=/tmp/bench-target`), "
        "plans in `bench/plans/` with a status check, an operation tag and full HDR metrics.",
        f"- Peers: {v['wrk'].split(' Copyright')[0]}; {v['oha']}; {v['h2load']}; "
        f"{v['k6']}; target {v['nginx'].replace('nginx version: ', '')}.",
        "- Reproduce: `bench/setup.sh && bench/run-all.sh" + (" --quick" if env["quick"] else "") + "`.",
    ] + [f"- Note: {n}" for n in env.get("notes", [])] + [
        "",
        "The machine is shared with other builds: absolute req/s are noisy, ratios taken within "
        "a round (minutes apart) are the figures to compare. Each figure's section says how "
        "loaded the machine was; in short (median cores used by other processes during the "
        "runs, of 2): " + loaded_summary(out) + ".",
        "",
        "## The issue's table, measured in this run, with a gauntlet column",
        "",
        "Median [min–max] over the repetitions. Goose and Locust are not run by bench/.",
        "",
        "| figure | wrk | oha | h2load | k6 | gauntlet |",
        "|---|---|---|---|---|---|",
        "| requests per generator CPU-second, GET, 64 connections (nginx) | "
        + " | ".join(tps.get(t, "–") for t in PEERS) + " |",
        "| … as a ratio to wrk (median of per-round ratios) | "
        + " | ".join(tps.get((t, "ratio"), "–") for t in PEERS) + " |",
    ]
    for lv in (1000, 10000):
        lines.append(f"| peak RSS MiB with {lv:,} connections / VUs | "
                     + " | ".join(rss_s.get((t, lv), "–") for t in PEERS) + " |")
    for rt_ in (5000, 50000):
        lines.append(f"| arrival-rate accuracy at {rt_:,}/s | "
                     + " | ".join("–" if t == "wrk" else rate_s.get((t, rt_), "–") for t in PEERS) + " |")
        lines.append(f"| generator CPU s per 100k requests at {rt_:,}/s | "
                     + " | ".join("–" if t == "wrk" else rate_s.get((t, rt_, "cpu"), "–") for t in PEERS) + " |")
    co_map = {"oha": "oha -q", "k6": "k6 constant-arrival-rate", "gauntlet": "gauntlet constant-arrival-rate"}
    lines.append("| CO stall test p99 ms (truth ≈951) | – | "
                 + " | ".join(co_s[co_map[t]][2] if co_map.get(t) in co_s else "–"
                              for t in ("oha", "h2load", "k6", "gauntlet")) + " |")
    lines.append("| 3-step flow CPU per request ÷ plain GET | – | – | – | – | "
                 + flow_s.get("gauntlet create-read-update", "–") + " |")
    lines += ["", "## Figures", "", tp, tph, rs, rt, c, fl]
    print("\n".join(x for x in lines if x is not None))


if __name__ == "__main__":
    main()
