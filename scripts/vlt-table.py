#!/usr/bin/env python3
"""The VLT ablation table of docs/RESULTS.md from the per-run `vidseek eval --json` files of scripts/vlt-eval.sh
(WORKDIR/vlt-FUSION-seedS-SPLIT.json): text-to-video R@1 / R@5 / R@10 and their mean, mean ± sample std over the seeds
found, for each split, caption type, fusion and ranking (ITC only, ITC top k re-ranked by ITM).
Usage: scripts/vlt-table.py [WORKDIR] [--md]"""
import glob
import json
import os
import re
import statistics
import sys

work = next((a for a in sys.argv[1:] if not a.startswith("--")), "results-shapes")
fusions = [("v2t", "V2T"), ("naive-t2v2t", "naive T2V2T"), ("t2v2t", "T2V2T (Bypass CA)"), ("self-attention", "self-attention")]


def cell(values):
    return "%.1f ± %.1f" % (statistics.mean(values), statistics.stdev(values)) if len(values) > 1 else "%.1f" % values[0]


print("| split | captions | fusion | ranking | seeds | R@1 | R@5 | R@10 | mean R@1/5/10 |")
print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
for split in ("test", "test-novel"):
    for group in ("full", "segment", "all"):
        for key, name in fusions:
            files = sorted(f for f in glob.glob(os.path.join(work, "vlt-%s-seed*-%s.json" % (key, split)))
                           if re.search(r"seed\d+-%s\.json$" % re.escape(split), f))
            if not files:
                continue
            docs = [json.load(open(f)) for f in files]
            k = docs[0]["rerank_k"]
            for stage, label in (("itc", "ITC"), ("itm-reranked", "ITC, top %d re-ranked by ITM" % k)):
                runs = [d["stages"][stage][group]["t2v"] for d in docs]
                r = {m: [run[m]["mean"] for run in runs] for m in ("R1", "R5", "R10")}
                mean = statistics.mean(statistics.mean(r[m]) for m in ("R1", "R5", "R10"))
                print("| %s | %s | %s | %s | %d | %s | %s | %s | %.1f |" % (split, group, name, label, len(docs), cell(r["R1"]), cell(r["R5"]), cell(r["R10"]), mean))
