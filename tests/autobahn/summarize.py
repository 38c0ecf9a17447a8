#!/usr/bin/env python3
"""Judge an Autobahn|Testsuite report directory for sockeye.

Usage:
    summarize.py REPORT_DIR [--agent NAME] [--expect-cases FILE]
                 [--unimplemented-ok SECTIONS] [--title TEXT] [--json OUT]

Reads REPORT_DIR/index.json (written by wstest), prints one row per test-suite
section (the first number of the case id) with the counts of `behavior`
verdicts and of close-behaviour failures, then every failing case with its
verdicts and the reason text from the case's own JSON report.

A case passes when
  - `behavior` is OK, or INFORMATIONAL (set by autobahn itself, for all peers,
    on 7.1.6, 7.13.1 and 7.13.2), or UNIMPLEMENTED in a section listed in
    --unimplemented-ok (default none);
  - and `behaviorClose` is OK, or the same INFORMATIONAL/UNIMPLEMENTED verdict
    as an accepted `behavior`.
NON-STRICT therefore fails, and so does every case listed in --expect-cases
(one id a line) that is missing from the report.

Exit status: 0 when every case passes, 1 when any case fails or is missing,
2 when the report cannot be read.
"""

import argparse
import json
import os
import sys
import textwrap
from collections import Counter, OrderedDict

SECTION_NAMES = {
    1: "Framing",
    2: "Pings/Pongs",
    3: "Reserved Bits",
    4: "Opcodes",
    5: "Fragmentation",
    6: "UTF-8 Handling",
    7: "Close Handling",
    9: "Limits/Performance",
    10: "Misc",
    12: "Compression (payloads)",
    13: "Compression (parameters)",
}
# Table columns: (header, counter key).
COLUMNS = [
    ("total", "total"),
    ("OK", "OK"),
    ("NON-STRICT", "NON-STRICT"),
    ("FAILED", "FAILED"),
    ("INFORMATIONAL", "INFORMATIONAL"),
    ("UNIMPLEMENTED", "UNIMPLEMENTED"),
    ("other", "other"),
    ("close-fail", "close-fail"),
    ("missing", "missing"),
]
REASON_MAX = 300  # characters of reason text shown per failing case


def case_key(case_id):
    """Sort key for ids like 6.22.10: numerically, part by part."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in case_id.split(".")]


def section_of(case_id):
    head = case_id.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def judge(case_id, behavior, close, unimplemented_ok):
    """Returns (behavior acceptable, behaviorClose acceptable)."""
    accepted = {"OK", "INFORMATIONAL"}
    if section_of(case_id) in unimplemented_ok:
        accepted.add("UNIMPLEMENTED")
    behavior_ok = behavior in accepted
    close_ok = close == "OK" or (behavior_ok and behavior != "OK" and close == behavior)
    return behavior_ok, close_ok


def reason(report_dir, entry):
    """The `result` / `resultClose` text of a case's JSON report, if there is one."""
    name = entry.get("reportfile")
    if not name:
        return ""
    try:
        with open(os.path.join(report_dir, name), encoding="utf-8") as f:
            detail = json.load(f)
    except (OSError, ValueError):
        return "(no case report %s)" % name
    parts = []
    for key in ("result", "resultClose"):
        text = " ".join(str(detail.get(key) or "").split())
        if len(text) > REASON_MAX:
            text = text[:REASON_MAX] + "..."
        if text and text not in parts:
            parts.append(text)
    return " / ".join(parts)


def summarize(report_dir, cases, expected, unimplemented_ok):
    sections = OrderedDict()
    failing = []  # (case id, behavior, behaviorClose, reason)
    ids = set(cases) | set(expected)
    for cid in sorted(ids, key=case_key):
        counter = sections.setdefault(section_of(cid), Counter())
        counter["total"] += 1
        if cid not in cases:
            counter["missing"] += 1
            failing.append((cid, "MISSING", "MISSING", "not in the report"))
            continue
        entry = cases[cid]
        behavior = str(entry.get("behavior", "MISSING")).upper()
        close = str(entry.get("behaviorClose", "MISSING")).upper()
        known = behavior in ("OK", "NON-STRICT", "FAILED", "INFORMATIONAL", "UNIMPLEMENTED")
        counter[behavior if known else "other"] += 1
        behavior_ok, close_ok = judge(cid, behavior, close, unimplemented_ok)
        if not close_ok:
            counter["close-fail"] += 1
        if not (behavior_ok and close_ok):
            failing.append((cid, behavior, close, reason(report_dir, entry)))
    return OrderedDict(sorted(sections.items())), failing


def print_table(sections, failing, out):
    failing_sections = Counter(section_of(f[0]) for f in failing)
    head = ["section", "name"] + [h for h, _ in COLUMNS] + ["result"]
    rows = []
    total = Counter()
    for sec, counter in sections.items():
        total.update(counter)
        rows.append([str(sec), SECTION_NAMES.get(sec, "?")] + [str(counter.get(k, 0)) for _, k in COLUMNS]
                    + ["FAIL" if failing_sections[sec] else "pass"])
    rows.append(["total", ""] + [str(total.get(k, 0)) for _, k in COLUMNS] + ["FAIL" if failing else "pass"])
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]

    def fmt(cells):
        # Names left-aligned, numbers right-aligned.
        return "  ".join(c.ljust(w) if i < 2 or i == len(cells) - 1 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "-" * len(fmt(head))
    out.write(fmt(head) + "\n" + rule + "\n")
    for r in rows[:-1]:
        out.write(fmt(r) + "\n")
    out.write(rule + "\n" + fmt(rows[-1]) + "\n")
    return total


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", help="report directory (holding index.json) or the index.json itself")
    ap.add_argument("--agent", help="judge only this agent; it must be in the report")
    ap.add_argument("--expect-cases", metavar="FILE",
                    help="file with the case ids that should be in the report, one a line")
    ap.add_argument("--unimplemented-ok", metavar="SECTIONS", default="",
                    help="comma-separated sections where UNIMPLEMENTED passes (default none)")
    ap.add_argument("--title", help="label for the output (default: the agent name)")
    ap.add_argument("--json", dest="json_out", metavar="OUT", help="also write the verdict as JSON here")
    args = ap.parse_args(argv)

    index = os.path.join(args.path, "index.json") if os.path.isdir(args.path) else args.path
    report_dir = os.path.dirname(os.path.abspath(index))
    unimplemented_ok = {int(s) for s in args.unimplemented_ok.split(",") if s.strip()}
    out = sys.stdout
    try:
        with open(index, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, dict):
            raise ValueError("top level is not an object")
        expected = []
        if args.expect_cases:
            with open(args.expect_cases, encoding="utf-8") as f:
                expected = [line.strip() for line in f if line.strip()]
    except (OSError, ValueError) as e:
        out.write("autobahn: cannot read the report: %s\n" % e)
        return 2

    if args.agent:
        if args.agent not in data:
            out.write("autobahn: agent %r has no results in %s (it has: %s)\n"
                      % (args.agent, index, ", ".join(sorted(data)) or "none"))
            if not expected:
                return 1
            data[args.agent] = {}  # every expected case is missing
        agents = [args.agent]
    else:
        agents = sorted(data)
    if not agents:
        out.write("autobahn: %s holds no results\n" % index)
        return 1

    verdicts = OrderedDict()
    for agent in agents:
        title = args.title or agent
        sections, failing = summarize(report_dir, data[agent], expected, unimplemented_ok)
        out.write("Autobahn|Testsuite: %s (agent %s)\n" % (title, agent))
        total = print_table(sections, failing, out)
        judged = [f for f in failing if f[1] != "MISSING"]
        missing = [f[0] for f in failing if f[1] == "MISSING"]
        if judged:
            out.write("failing cases (%d):\n" % len(judged))
            width = max(len(f[0]) for f in judged)
            for cid, behavior, close, why in judged:
                out.write("  %s  behavior=%s behaviorClose=%s%s\n"
                          % (cid.ljust(width), behavior, close, ("  " + why) if why else ""))
        if missing:
            out.write("missing from the report (%d; the testee crashed or stopped early, or the run timed out):\n"
                      % len(missing))
            out.write(textwrap.fill(" ".join(missing), width=100, initial_indent="  ", subsequent_indent="  ")
                      + "\n")
        out.write("autobahn %s: %s - %d cases: %d OK, %d informational, %d unimplemented, %d failing\n\n" % (
            title, "FAIL" if failing else "PASS", total["total"], total["OK"], total["INFORMATIONAL"],
            total["UNIMPLEMENTED"], len(failing)))
        verdicts[agent] = OrderedDict([
            ("pass", not failing),
            ("counts", OrderedDict((k, total.get(k, 0)) for _, k in COLUMNS)),
            ("failing", [OrderedDict([("case", c), ("behavior", b), ("behaviorClose", bc), ("reason", r)])
                         for c, b, bc, r in failing]),
        ])

    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(verdicts, f, indent=2)
            f.write("\n")
    return 0 if all(v["pass"] for v in verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
