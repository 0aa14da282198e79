#!/usr/bin/env python3
"""Prints one markdown table row per caption group and ranking from a `vidseek eval --json` file of a VLT model:
R@1, R@5, R@10 and their mean (mean ± std over the checkpoints), text-to-video."""
import json
import sys

doc = json.load(open(sys.argv[1]))
for stage, label in (("itc", "ITC"), ("itm-reranked", "ITC + ITM top-%d" % doc["rerank_k"])):
    for group, metrics in doc["stages"][stage].items():
        t2v = metrics["t2v"]
        cells = ["%.1f ± %.1f" % (t2v[k]["mean"], t2v[k]["std"]) for k in ("R1", "R5", "R10")]
        mean = sum(t2v[k]["mean"] for k in ("R1", "R5", "R10")) / 3
        print("| %s | %s | %s | %.1f |" % (group, label, " | ".join(cells), mean))
