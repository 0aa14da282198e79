#!/usr/bin/env python3
"""The VLT ablation table of docs/RESULTS.md from the `vidseek eval --json` files scripts/vlt-ablation.sh writes:
text-to-video R@1 / R@5 / R@10 and their mean, mean ± std over the seeds, for each split, caption type, fusion and ranking.
Usage: scripts/vlt-table.py [WORKDIR]"""
import json
import os
import sys

work = sys.argv[1] if len(sys.argv) > 1 else "results-shapes"
fusions = [("v2t", "V2T"), ("naive-t2v2t", "naive T2V2T"), ("t2v2t", "T2V2T (Bypass CA)"), ("self-attention", "self-attention")]
print("| split | captions | fusion | ranking | seeds | R@1 | R@5 | R@10 | mean |")
print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
for split in ("test", "test-novel"):
    for group in ("full", "segment"):
        for key, name in fusions:
            path = os.path.join(work, "vlt-%s-%s.json" % (key, split))
            if not os.path.exists(path):
                continue
            doc = json.load(open(path))
            for stage, label in (("itc", "ITC"), ("itm-reranked", "ITM top-%d" % doc["rerank_k"])):
                t2v = doc["stages"][stage][group]["t2v"]
                cells = ["%.1f ± %.1f" % (t2v[k]["mean"], t2v[k]["std"]) for k in ("R1", "R5", "R10")]
                mean = sum(t2v[k]["mean"] for k in ("R1", "R5", "R10")) / 3
                print("| %s | %s | %s | %s | %d | %s | %.1f |" % (split, group, name, label, len(doc["checkpoints"]), " | ".join(cells), mean))
