#!/usr/bin/env python3
"""gauntlet side by side with wrk, oha, h2load and k6 on loopback (own code).

One invocation runs one figure and appends one JSON record per tool run to
OUT/results.jsonl (raw tool output is kept next to it as OUT/<tag>.out/.err):

  throughput  requests per generator CPU-second, GET, 64 connections (closed loop)
  rss         peak RSS at 1,000 and 10,000 connections / VUs (gauntlet and k6 with 1 s think time)
  rate        arrival-rate accuracy at 5,000/s and 50,000/s, generator CPU per request
  co          coordinated-omission stall test against the stall server at 1,000/s
  flow        gauntlet create -> read -> update against `gauntlet demo` vs a plain GET, same request rate

Runs are interleaved: for each repetition every tool runs once, in a fixed order
(A B C A B C ...). Each generator is pinned to GEN_CPU (default core 1) with
sched_setaffinity (what `taskset -c 1` does); the targets run on SERVER_CPU (core 0,
bench/targets.sh). Per run: user+sys CPU and max RSS of the generator from wait4's
rusage, peak RSS of its process tree polled from /proc, requests counted by the
server (nginx stub_status or bench-server /__count), the machine's load average before
the run and the CPU used by other processes during it, and the tool's own report.

Every request goes to 127.0.0.1 and every run is bounded in time (killed after its
duration plus a margin).  Tables: bench/report.py OUT...
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
GEN_CPU = int(os.environ.get("GEN_CPU", "1"))
NOFILE = min(int(os.environ.get("BENCH_NOFILE", "65536")), resource.getrlimit(resource.RLIMIT_NOFILE)[1])
RUNDIR = os.environ.get("RUNDIR", "/tmp/bench-run")
TARGET_DIR = os.environ.get("CARGO_TARGET_DIR", "/tmp/bench-target")
CLK = os.sysconf("SC_CLK_TCK")

# Loopback targets started by bench/targets.sh (ports chosen away from the usual 8080s).
TARGETS = {
    "nginx": {"port": 28080, "counter": "nginx"},
    "hyper": {"port": 28081, "counter": "bench"},
    "stall": {"port": 28082, "counter": "bench"},
    "demo": {"port": 28083, "counter": None},
}


# ----------------------------------------------------------------------------
# binaries
def tool_path(name: str) -> str:
    """Absolute path of a generator. Env overrides: GAUNTLET_BIN, OHA_BIN, K6_BIN."""
    env = os.environ.get(f"{name.upper()}_BIN")
    if env:
        return env
    if name == "gauntlet":
        return os.path.join(TARGET_DIR, "release", "gauntlet")
    if name == "oha":
        local = os.path.join(BENCH, ".tools", "bin", "oha")
        if os.path.exists(local):
            return local
    if name == "k6":
        local = os.path.join(BENCH, ".tools", "venv", "bin", "k6")
        if os.path.exists(local):
            return local
        # a pyenv shim is a bash script: resolve it so the shell is not billed to k6
        p = shutil.which("k6") or "k6"
        if "/shims/" in p and shutil.which("pyenv"):
            try:
                return subprocess.check_output(["pyenv", "which", "k6"], text=True).strip()
            except subprocess.CalledProcessError:
                pass
        return p
    return shutil.which(name) or name


def available(tool: str) -> bool:
    p = tool_path(tool)
    return os.path.exists(p) and os.access(p, os.X_OK)


# ----------------------------------------------------------------------------
# server-side request counter
def read_counter(target: str):
    """(requests served, connections accepted or None); None when the target is down."""
    t = TARGETS[target]
    if t["counter"] is None:
        return None
    path = "/nginx_status" if t["counter"] == "nginx" else "/__count"
    try:
        conn = http.client.HTTPConnection("127.0.0.1", t["port"], timeout=2)
        conn.request("GET", path)
        body = conn.getresponse().read().decode()
        conn.close()
    except OSError:
        return None
    if t["counter"] == "nginx":
        # "Active connections: 1 \nserver accepts handled requests\n 1 1 1 \n..."
        nums = body.splitlines()[2].split()
        return int(nums[2]), int(nums[0])
    return int(body.strip()), None


def target_up(target: str) -> bool:
    if TARGETS[target]["counter"] is not None:
        return read_counter(target) is not None
    try:
        conn = http.client.HTTPConnection("127.0.0.1", TARGETS[target]["port"], timeout=2)
        conn.request("GET", "/health")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


class Sampler(threading.Thread):
    """Samples the server's request counter every 0.2 s while a generator runs."""

    def __init__(self, target: str, interval: float = 0.2):
        super().__init__(daemon=True)
        self.target, self.interval = target, interval
        self.samples: list[tuple[float, int]] = []
        self.accepts: list[int] = []
        self.stop_ev = threading.Event()
        self.own_requests = 0  # stub_status counts its own requests

    def sample(self):
        r = read_counter(self.target)
        if r is None:
            return
        n, acc = r
        if TARGETS[self.target]["counter"] == "nginx":
            self.own_requests += 1
            n -= self.own_requests
            self.accepts.append(acc - self.own_requests)
        self.samples.append((time.monotonic(), n))

    def run(self):
        while not self.stop_ev.is_set():
            self.sample()
            self.stop_ev.wait(self.interval)

    def stop(self):
        self.stop_ev.set()
        self.join()
        self.sample()

    def summary(self) -> dict:
        s = self.samples
        if len(s) < 2:
            return {}
        total = s[-1][1] - s[0][1]
        iv = [(s[i][0] - s[i - 1][0], s[i][1] - s[i - 1][1]) for i in range(1, len(s))]
        rates = [dn / dt if dt > 0 else 0 for dt, dn in iv]
        peak = max(rates) if rates else 0
        out = {"server_requests": total, "server_peak_rps": round(peak, 1)}
        if len(self.accepts) >= 2:
            out["server_conns_accepted"] = self.accepts[-1] - self.accepts[0]
        active = [i for i, r in enumerate(rates) if r > 0.2 * peak] if peak > 0 else []
        if active:
            # steady rate: the active span without its first and last 0.2 s interval
            a, b = active[0], active[-1]
            span = list(range(a + 1, b)) if b - a >= 3 else list(range(a, b + 1))
            dt = sum(iv[i][0] for i in span)
            dn = sum(iv[i][1] for i in span)
            out["server_steady_rps"] = round(dn / dt, 1) if dt > 0 else None
            out["server_active_s"] = round(sum(iv[i][0] for i in range(a, b + 1)), 2)
        return out


# ----------------------------------------------------------------------------
# /proc helpers
def tree_pids(root: int) -> list[int]:
    todo, out = [root], []
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                try:
                    with open(f"/proc/{p}/task/{t}/children") as f:
                        todo += [int(x) for x in f.read().split()]
                except OSError:
                    pass
        except OSError:
            pass
    return out


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def threads_of(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def busy_ticks() -> int:
    """Busy jiffies of the whole machine (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        parts = f.readline().split()
    v = [int(x) for x in parts[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = v
    return user + nice + system + irq + softirq


def proc_cpu_s(pids) -> float:
    tot = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            tot += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return tot / CLK


def server_pids(target: str) -> list[int]:
    try:
        with open(os.path.join(RUNDIR, f"{target}.pid")) as f:
            return tree_pids(int(f.read().strip()))
    except (OSError, ValueError):
        return []


def kill_tree(root: int, sig):
    for p in reversed(tree_pids(root)):
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


# ----------------------------------------------------------------------------
def run_one(cmd: list[str], *, out_prefix: str, target: str, timeout: float,
            env_extra: dict | None = None, mem_cap_mb: int = 8192) -> dict:
    """Run one generator pinned to GEN_CPU; measure it; return the record."""
    env = dict(os.environ)
    env.update(env_extra or {})

    def pre():
        os.sched_setaffinity(0, {GEN_CPU})
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
        os.setpgid(0, 0)

    load1 = os.getloadavg()[0]
    sampler = Sampler(target) if TARGETS[target]["counter"] else None
    if sampler:
        sampler.sample()
        sampler.start()
    spids = server_pids(target)
    s_cpu0 = proc_cpu_s(spids)
    me0 = sum(os.times()[:2])
    busy0 = busy_ticks()
    t0 = time.monotonic()
    with open(out_prefix + ".out", "wb") as fo, open(out_prefix + ".err", "wb") as fe:
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL,
                             env=env, preexec_fn=pre, cwd=os.path.dirname(out_prefix))
    peak, killed, affinity, max_threads = 0, None, None, 0
    t_int = None
    while True:
        pid, st, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            break
        pids = tree_pids(p.pid)
        if affinity is None:
            try:
                affinity = sorted(os.sched_getaffinity(p.pid))
            except OSError:
                pass
        max_threads = max(max_threads, threads_of(p.pid))
        cur = sum(rss_kb(x) for x in pids)
        peak = max(peak, cur)
        el = time.monotonic() - t0
        if killed is None and el > timeout:
            killed, t_int = "timeout", time.monotonic()
            kill_tree(p.pid, signal.SIGINT)
        elif killed is None and cur > mem_cap_mb * 1024:
            killed = "memcap"
            kill_tree(p.pid, signal.SIGKILL)
        elif killed == "timeout" and time.monotonic() - t_int > 5:
            kill_tree(p.pid, signal.SIGKILL)
        time.sleep(0.05)
    wall = time.monotonic() - t0
    busy = (busy_ticks() - busy0) / CLK
    s_cpu = proc_cpu_s(spids) - s_cpu0
    me = sum(os.times()[:2]) - me0
    cpu = ru.ru_utime + ru.ru_stime
    rec = {
        "cmd": " ".join(shlex.quote(x) for x in cmd),
        "env": env_extra or {},
        "rc": os.waitstatus_to_exitcode(st),
        "killed": killed,
        "wall_s": round(wall, 3),
        "user_s": round(ru.ru_utime, 3),
        "sys_s": round(ru.ru_stime, 3),
        "cpu_s": round(cpu, 3),
        "maxrss_kb": ru.ru_maxrss,
        "peak_tree_rss_kb": peak,
        "gen_affinity": affinity,
        "gen_threads": max_threads,
        "server_cpu_s": round(s_cpu, 2),
        "load1_before": round(load1, 2),
        # CPU used by everything else on the machine (other people's builds): cores
        "other_cores": round((busy - cpu - s_cpu - me) / wall, 2) if wall > 0 else None,
    }
    if sampler:
        time.sleep(0.3)
        sampler.stop()
        rec.update(sampler.summary())
    return rec


# ----------------------------------------------------------------------------
# parsers: stdout+stderr text (and side files) -> the tool's own report
def parse_wrk(text, prefix):
    m = re.search(r"^WRKJSON (\{.*\})$", text, re.M)
    if not m:
        return {}
    j = json.loads(m.group(1))
    lat, e = j["lat_us"], j["errors"]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "requests": j["requests"], "rps": j["requests"] / (j["duration_us"] / 1e6),
        "p50_ms": lat["p50"] / 1e3, "p90_ms": lat["p90"] / 1e3, "p99_ms": lat["p99"] / 1e3,
        "p999_ms": lat["p999"] / 1e3, "max_ms": lat["max"] / 1e3,
        "errors": sum(e.values()) + (int(non2xx.group(1)) if non2xx else 0),
    }


def parse_oha(text, prefix):
    i = text.find("{")
    if i < 0:
        return {}
    try:
        j = json.JSONDecoder().raw_decode(text[i:])[0]
    except ValueError:
        return {}
    s, lp = j.get("summary", {}), j.get("latencyPercentiles", {})
    ok = sum(j.get("statusCodeDistribution", {}).values())
    # requests cut off at the end of -z are reported as errors by oha; they are not failures
    errs = sum(v for k, v in j.get("errorDistribution", {}).items() if "deadline" not in k)

    def ms(k):
        v = lp.get(k)
        return v * 1e3 if v is not None else None

    return {
        "requests": ok + errs, "rps": s.get("requestsPerSec"),
        "p50_ms": ms("p50"), "p90_ms": ms("p90"), "p99_ms": ms("p99"), "p999_ms": ms("p99.9"),
        "max_ms": s["slowest"] * 1e3 if s.get("slowest") is not None else None,
        "errors": errs + sum(v for k, v in j.get("statusCodeDistribution", {}).items()
                             if not str(k).startswith("2")),
    }


def parse_h2load(text, prefix):
    out = {}
    m = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", text)
    out["rps"] = float(m.group(2)) if m else None
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
    if m:
        out["requests"] = int(m.group(3))
        out["errors"] = int(m.group(5)) + int(m.group(6)) + int(m.group(7))
    m = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", text)
    if m:
        def ms(s):
            mm = re.match(r"([\d.]+)(us|ms|s)", s)
            return float(mm.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[mm.group(2)] if mm else None
        out["mean_ms"], out["max_ms"] = ms(m.group(3)), ms(m.group(2))
    return out


def _k6_values(m, name):
    d = m.get(name, {})
    return d.get("values", d)


def parse_k6(text, prefix):
    f = prefix + ".k6.json"
    if not os.path.exists(f):
        return {}
    with open(f) as fh:
        m = json.load(fh).get("metrics", {})
    d, r = _k6_values(m, "http_req_duration"), _k6_values(m, "http_reqs")
    fail, drop = _k6_values(m, "http_req_failed"), _k6_values(m, "dropped_iterations")
    return {"requests": r.get("count"), "rps": r.get("rate"), "p50_ms": d.get("med"),
            "p90_ms": d.get("p(90)"), "p99_ms": d.get("p(99)"), "p999_ms": d.get("p(99.9)"),
            "max_ms": d.get("max"),
            "errors": fail.get("passes") if fail else None,
            "dropped_iterations": drop.get("count")}


def parse_gauntlet(text, prefix):
    """gauntlet's --summary-export (k6 shape; corrected latency, raw under gauntlet.rawLatency)."""
    f = prefix + ".gauntlet.json"
    if not os.path.exists(f):
        return {}
    with open(f) as fh:
        j = json.load(fh)
    m = j.get("metrics", {})
    d, r = _k6_values(m, "http_reqs"), _k6_values(m, "http_req_duration")
    fail, drop = _k6_values(m, "http_req_failed"), _k6_values(m, "dropped_iterations")
    checks, it = _k6_values(m, "checks"), _k6_values(m, "iterations")
    out = {"requests": d.get("count"), "rps": d.get("rate"), "p50_ms": r.get("med"),
           "p90_ms": r.get("p(90)"), "p99_ms": r.get("p(99)"), "p999_ms": r.get("p(99.9)"),
           "max_ms": r.get("max"), "errors": fail.get("passes") if fail else None,
           "dropped_iterations": drop.get("count"), "iterations": it.get("count"),
           "checks_passes": checks.get("passes"), "checks_fails": checks.get("fails")}
    raw = (j.get("gauntlet") or {}).get("rawLatency") or {}
    rd = raw.get("http_req_duration")
    if isinstance(rd, dict):
        rd = rd.get("values", rd)
        out["raw"] = {"p50_ms": rd.get("med"), "p90_ms": rd.get("p(90)"), "p99_ms": rd.get("p(99)"),
                      "p999_ms": rd.get("p(99.9)"), "max_ms": rd.get("max")}
    return out


PARSERS = {"wrk": parse_wrk, "oha": parse_oha, "h2load": parse_h2load, "k6": parse_k6,
           "gauntlet": parse_gauntlet}

# ----------------------------------------------------------------------------
# command templates (str.format fields: url base c d rate rate_per_conn out bench + tool paths)
K6 = ("{k6} run --quiet --no-usage-report --no-color "
      "--summary-trend-stats \"min,med,avg,p(90),p(99),p(99.9),max\" "
      "--summary-export {out}.k6.json -e URL={url} {extra} {bench}/k6/script.js")
GAUNTLET = "{gauntlet} run {bench}/plans/{plan} --url {base} {extra} -q --summary-export {out}.gauntlet.json"

CLOSED = {
    "wrk": "wrk -t1 -c{c} -d{d}s --timeout 30s -s {bench}/wrk/report.lua {url}",
    "oha": "{oha} --no-tui -z {d}s -c {c} --output-format json {url}",
    "h2load": "h2load --h1 -c {c} -t 1 -D {d} {url}",
    "k6": K6.replace("{extra}", "--vus {c} --duration {d}s"),
    "gauntlet": GAUNTLET.replace("{plan}", "get.yaml").replace("{extra}", "--vus {c} --duration {d}s"),
}
# memory figure: the same closed loop for the peers; gauntlet and k6 think 1 s between requests
RSS = dict(CLOSED)
RSS["k6"] = K6.replace("{extra}", "--vus {c} --duration {d}s -e THINK=1")
RSS["gauntlet"] = GAUNTLET.replace("{plan}", "think.yaml").replace("{extra}", "--vus {c} --duration {d}s")
RATE = {
    "oha": "{oha} --no-tui -z {d}s -c {c} -q {rate} --output-format json {url}",
    "h2load": "h2load --h1 -c {c} -t 1 -D {d} --rps {rate_per_conn} {url}",
    "k6": K6.replace("{extra}", "-e RATE={rate} -e PREVUS={c} -e MAXVUS={maxvus} -e DUR={d}s"),
    "gauntlet": GAUNTLET.replace("{plan}", "get.yaml").replace(
        "{extra}", "--rate {rate} --vus {c} --duration {d}s"),
}
CO = {  # variant -> (tool, template)
    "gauntlet constant-arrival-rate": ("gauntlet", GAUNTLET.replace("{plan}", "get.yaml").replace(
        "{extra}", "--rate {rate} --duration {d}s")),
    "oha -q": ("oha", RATE["oha"]),
    "oha -q --latency-correction": ("oha", RATE["oha"].replace(" -q ", " --latency-correction -q ")),
    "k6 constant-arrival-rate": ("k6", K6.replace(
        "{extra}", "-e RATE={rate} -e PREVUS={c} -e MAXVUS={co_maxvus} -e DUR={d}s")),
}
FLOW = {  # variant -> (plan, iterations per second as a share of the request rate)
    "gauntlet create-read-update": ("flow.yaml", 3),
    "gauntlet plain GET": ("demo-get.yaml", 1),
}


def fields(target, c, d, rate, out, extra=None):
    port = TARGETS[target]["port"]
    f = {
        "url": f"http://127.0.0.1:{port}/", "base": f"http://127.0.0.1:{port}",
        "c": c, "d": d, "rate": rate or 0,
        "rate_per_conn": f"{(rate or 0) / c:.4f}".rstrip("0").rstrip("."),
        "maxvus": max(c, 1000), "co_maxvus": max(c, 2 * (rate or 0)),
        "out": out, "bench": BENCH,
        "oha": tool_path("oha"), "k6": tool_path("k6"), "gauntlet": tool_path("gauntlet"),
    }
    f.update(extra or {})
    return f


def execute(outdir, figure, tool, variant, template, *, target, c, d, rate, rep,
            timeout_pad=30, mem_cap_mb=8192, extra_fields=None, extra=None):
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{figure}-{variant}-c{c}-r{rate or 0}-{rep}")
    out = os.path.join(outdir, tag)
    cmd = shlex.split(template.format(**fields(target, c, d, rate, out, extra_fields)))
    rec = run_one(cmd, out_prefix=out, target=target, timeout=d + timeout_pad, mem_cap_mb=mem_cap_mb)
    with open(out + ".out", errors="replace") as f1, open(out + ".err", errors="replace") as f2:
        text = f1.read() + "\n" + f2.read()
    try:
        parsed = PARSERS[tool](text, out)
    except Exception as e:  # keep going: the raw output is on disk
        parsed = {"parse_error": repr(e)}
    rec.update({"figure": figure, "tool": tool, "variant": variant, "target": target, "c": c,
                "d": d, "rate": rate, "rep": rep, "tag": tag, "t_end": time.time(),
                "tool_report": parsed})
    rec.update(extra or {})
    with open(os.path.join(outdir, "results.jsonl"), "a") as f:
        f.write(json.dumps(rec) + "\n")
    n = rec.get("server_requests") or parsed.get("requests")
    print(f"[{figure}] {variant:<30} c={c:<5} rate={rate or '-':<6} rep={rep} rc={rec['rc']} "
          f"killed={rec['killed']} reqs={n} srv_rps={rec.get('server_steady_rps')} "
          f"cpu={rec['cpu_s']}s rss={max(rec['maxrss_kb'], rec['peak_tree_rss_kb']) // 1024}MiB "
          f"threads={rec['gen_threads']} load1={rec['load1_before']} other={rec['other_cores']}",
          flush=True)
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("figure", choices=["throughput", "rss", "rate", "co", "flow"])
    ap.add_argument("--out", required=True, help="output directory (created; results.jsonl appended)")
    ap.add_argument("--tools", default="gauntlet,wrk,oha,h2load,k6",
                    help="comma list, run in this order in every repetition")
    ap.add_argument("--target", default=None, help="nginx|hyper (throughput, rss, rate)")
    ap.add_argument("-c", type=int, default=64, help="connections / VUs (throughput, rate, co)")
    ap.add_argument("-d", type=int, default=10, help="seconds per run")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--levels", default="1000,10000", help="rss: connection / VU counts")
    ap.add_argument("--rates", default="5000,50000", help="rate: target rates per second")
    ap.add_argument("--rate", type=int, default=1000, help="co: arrival rate; flow: requests per second")
    ap.add_argument("--pause", type=float, default=1.0, help="seconds between runs")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    wanted = [t for t in a.tools.split(",") if t]
    tools = [t for t in wanted if available(t)]
    if len(tools) < len(wanted):
        print("skipping unavailable tools:", ", ".join(t for t in wanted if t not in tools), flush=True)
    target = a.target or {"co": "stall", "flow": "demo"}.get(a.figure, "nginx")
    if not target_up(target):
        sys.exit(f"target {target} is not answering; start it with bench/targets.sh start {target}")
    with open(os.path.join(a.out, "meta.jsonl"), "a") as f:
        f.write(json.dumps({"figure": a.figure, "argv": sys.argv, "time": time.time(),
                            "gen_cpu": GEN_CPU, "tools": tools, "target": target}) + "\n")

    def pause(extra=0.0):
        time.sleep(a.pause + extra)

    if a.figure == "throughput":
        for rep in range(1, a.reps + 1):
            for t in tools:
                execute(a.out, "throughput", t, t, CLOSED[t], target=target, c=a.c, d=a.d,
                        rate=None, rep=rep)
                pause()
    elif a.figure == "rss":
        for level in [int(x) for x in a.levels.split(",")]:
            for rep in range(1, a.reps + 1):
                for t in tools:
                    execute(a.out, "rss", t, t, RSS[t], target=target, c=level, d=a.d, rate=None,
                            rep=rep, timeout_pad=120)
                    pause(2.0)  # let the target close the connections
    elif a.figure == "rate":
        for rate in [int(x) for x in a.rates.split(",")]:
            for rep in range(1, a.reps + 1):
                for t in tools:
                    if t not in RATE:
                        continue
                    execute(a.out, "rate", t, t, RATE[t], target=target, c=a.c, d=a.d, rate=rate,
                            rep=rep)
                    pause()
    elif a.figure == "co":
        for rep in range(1, a.reps + 1):
            for v, (t, tpl) in CO.items():
                if t not in tools:
                    continue
                execute(a.out, "co", t, v, tpl, target=target, c=a.c, d=a.d, rate=a.rate, rep=rep)
                pause()
    elif a.figure == "flow":
        if "gauntlet" not in tools:
            sys.exit("the flow figure needs gauntlet")
        for rep in range(1, a.reps + 1):
            for v, (plan, per_iter) in FLOW.items():
                it_rate = a.rate // per_iter
                tpl = GAUNTLET.replace("{plan}", plan).replace(
                    "{extra}", "--rate {rate} --vus {c} --duration {d}s")
                execute(a.out, "flow", "gauntlet", v, tpl, target=target, c=a.c, d=a.d,
                        rate=it_rate, rep=rep, extra={"requests_per_iteration": per_iter})
                pause()


if __name__ == "__main__":
    main()
