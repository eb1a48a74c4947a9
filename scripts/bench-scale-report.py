#!/usr/bin/env python3
"""Puts the raw outputs of scripts/bench-scale side by side: one JSON
object (every raw number kept, plus the ratios and criteria of issue 13)
and a printed table. Usage: bench-scale-report.py RAW_DIR OUT_JSON QUICK"""

import glob
import json
import os
import statistics
import sys

raw, out_path, quick = sys.argv[1], sys.argv[2], sys.argv[3] == "1"


def load(name):
    path = os.path.join(raw, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        text = f.read().strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        # A bench mode prints one JSON object as its last stdout line.
        return json.loads(text.splitlines()[-1])


def read(name):
    path = os.path.join(raw, name)
    return open(path).read().strip() if os.path.exists(path) else None


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


# ---------------------------------------------------------------- migrate
rounds = sorted(int(p.split("-")[-1].split(".")[0]) for p in glob.glob(os.path.join(raw, "new-*.json")))
mig = []
for r in rounds:
    new, base, floor = load(f"new-{r}.json"), load(f"baseline-{r}.json"), load(f"floor-{r}.json")
    nt, bt = read(f"new-{r}.time").split(), read(f"baseline-{r}.time").split()
    mig.append({
        "round": r,
        "baseline_records_per_s": base["rate_per_s"],
        "new_records_per_s": new["rate_per_s"],
        "floor_records_per_s": floor["floor"]["rate_per_s"],
        "baseline_peak_rss_mb": int(bt[0]) / 1024,
        "new_peak_rss_mb": int(nt[0]) / 1024,
        "baseline_elapsed_s": base["elapsed_s"],
        # CPU seconds (user + system) when /usr/bin/time reported them: on a
        # machine shared with other work, wall time measures the share of
        # the cores a run got as much as the run itself.
        "baseline_cpu_s": sum(map(float, bt[2:4])) if len(bt) >= 4 else None,
        "new_cpu_s": sum(map(float, nt[2:4])) if len(nt) >= 4 else None,
        "new_elapsed_s": new["elapsed_s"],
        "floor_elapsed_s": floor["floor"]["elapsed_s"],
        "processed": new["processed"],
        "migrated": new["migrated"],
        "same_result": (new["migrated"], new["skipped"]) == (base["migrated"], base["skipped"]),
        "db_bytes_new": int(read(f"new-{r}.dbsize")),
        "db_bytes_baseline": int(read(f"baseline-{r}.dbsize")),
        "new_over_baseline": ratio(new["rate_per_s"], base["rate_per_s"]),
        "new_over_floor": ratio(new["rate_per_s"], floor["floor"]["rate_per_s"]),
    })
    m = mig[-1]
    m["baseline_cpu_over_new_cpu"] = ratio(m["baseline_cpu_s"], m["new_cpu_s"])
bucket = load("bucket.json")
generated = load("generated.json")
migrate = {
    "bucket": bucket,
    "rounds": mig,
    "median": {k: median([m[k] for m in mig]) for k in (
        "baseline_records_per_s", "new_records_per_s", "floor_records_per_s",
        "new_over_baseline", "new_over_floor", "baseline_peak_rss_mb", "new_peak_rss_mb",
        "baseline_cpu_s", "new_cpu_s", "baseline_cpu_over_new_cpu")},
    "generated_source": generated and {
        "records": generated["summary"]["processed"],
        "migrated": generated["summary"]["migrated"],
        "records_per_s": generated["summary"]["rate_per_s"],
        "elapsed_s": generated["summary"]["elapsed_s"],
        "peak_rss_mb": generated["peak_rss_bytes"] / 2**20,
        "peak_rss_before_migrate_mb": (generated["peak_rss_before_migrate_bytes"] or 0) / 2**20,
        "db_file_bytes": generated["db_file_bytes"],
    },
}

# ----------------------------------------------------------------- growth
def growth_rows(doc):
    rows = []
    for s in (doc or {}).get("steps", []):
        r = s["reads"]
        rows.append({
            "size": s["size"],
            "stored": s["stored"],
            "saves_per_s": s["saves"]["samples_per_s"],
            "save_batch_p99_ms": s["saves"]["batch_ms"]["p99_ms"],
            "by_miner_with_p50_ms": r["get_samples_by_miner_with_conversations"]["p50_ms"],
            "by_miner_with_p99_ms": r["get_samples_by_miner_with_conversations"]["p99_ms"],
            "by_miner_without_p50_ms": r["get_samples_by_miner_without_conversations"]["p50_ms"],
            "by_miner_without_p99_ms": r["get_samples_by_miner_without_conversations"]["p99_ms"],
            "by_env_p50_ms": r["get_samples_by_env"]["p50_ms"],
            "by_env_p99_ms": r["get_samples_by_env"]["p99_ms"],
            "mean_rows": r["mean_rows"],
            "stats_ms": s["stats_ms"],
            "file_bytes_per_sample": s["file_bytes_per_sample"],
            "cleanup_us_per_deleted": (s["cleanup"] or {}).get("us_per_deleted"),
            "cleanup_deleted": (s["cleanup"] or {}).get("deleted"),
        })
    return rows


sqlite_growth = growth_rows(load("growth.json"))
dynamo_growth = growth_rows(load("dynamo-growth.json"))


def growth_ratios(rows):
    if len(rows) < 2:
        return {}
    a, b = rows[0], rows[-1]
    return {
        "from": a["size"], "to": b["size"],
        "save_throughput_small_over_large": ratio(a["saves_per_s"], b["saves_per_s"]),
        "by_miner_with_p99_large_over_small": ratio(b["by_miner_with_p99_ms"], a["by_miner_with_p99_ms"]),
        "by_miner_without_p99_large_over_small": ratio(b["by_miner_without_p99_ms"], a["by_miner_without_p99_ms"]),
        "by_env_p99_large_over_small": ratio(b["by_env_p99_ms"], a["by_env_p99_ms"]),
        "cleanup_per_deleted_large_over_small": ratio(b["cleanup_us_per_deleted"], a["cleanup_us_per_deleted"]),
        "stats_large_over_small": ratio(b["stats_ms"], a["stats_ms"]),
    }


# --------------------------------------------------------------- DynamoDB
batching = load("batching.json")
dyn_migrate = {}
for link in (0, 4):
    d = load(f"dynamo-migrate-{link}.json")
    if d:
        dyn_migrate[f"{link}ms"] = {
            "records_per_s": d["summary"]["rate_per_s"],
            "migrated": d["summary"]["migrated"],
            "requests": d["requests"],
            "requests_per_1000_migrated": d["requests_per_1000_migrated"],
            "batch_write_requests_per_1000_migrated": d["batch_write_requests_per_1000_migrated"],
        }

# --------------------------------------------------------------- criteria
gr = growth_ratios(sqlite_growth)
rtt4 = ((batching or {}).get("dynamodb") or {}).get("rtt4ms", {})
med = migrate["median"]
span = f"{gr['from']:,}->{gr['to']:,}" if gr else "(no sizes)"
criteria = [
    ("batched >= 15x single save_sample on the 4 ms link", rtt4.get("batched_over_single_paired"), ">=", 15.0),
    ("batched >= 0.8x the emulator's ceiling on the 4 ms link", rtt4.get("batched_over_ceiling_paired"), ">=", 0.8),
    ("migrate requests per 1,000 results <= 60 (4 ms link)", (dyn_migrate.get("4ms") or {}).get("requests_per_1000_migrated"), "<=", 60.0),
    ("migrate into SQLite >= 3x the baseline (records/s, paired median)", med["new_over_baseline"], ">=", 3.0),
    ("migrate into SQLite >= 0.5x the parse floor (paired median)", med["new_over_floor"], ">=", 0.5),
    ("peak RSS < 150 MB migrating the generated source", (migrate["generated_source"] or {}).get("peak_rss_mb"), "<", 150.0),
    (f"save throughput {span} (small / large) <= 1.5", gr.get("save_throughput_small_over_large"), "<=", 1.5),
    (f"get_samples_by_miner (conversations) p99 {span} (large / small) <= 2", gr.get("by_miner_with_p99_large_over_small"), "<=", 2.0),
    (f"get_samples_by_miner (no conversations) p99 {span} (large / small) <= 2", gr.get("by_miner_without_p99_large_over_small"), "<=", 2.0),
    (f"get_samples_by_env p99 {span} (large / small) <= 2", gr.get("by_env_p99_large_over_small"), "<=", 2.0),
    (f"cleanup per deleted sample {span} (large / small) <= 2", gr.get("cleanup_per_deleted_large_over_small"), "<=", 2.0),
]
ops = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}
crit = [{"criterion": c, "value": v, "target": f"{op} {t}",
         "met": None if v is None else ops[op](v, t)} for c, v, op, t in criteria]

result = {
    "quick": quick,
    "load_before": read("uptime-before.txt"),
    "load_after": read("uptime-after.txt"),
    "migrate_sqlite": migrate,
    "sqlite_growth": {"steps": sqlite_growth, "ratios": gr},
    "dynamodb": {
        "batching": batching,
        "migrate_fixture": dyn_migrate,
        "growth": {"steps": dynamo_growth, "ratios": growth_ratios(dynamo_growth)},
    },
    "criteria": crit,
}
with open(out_path, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")


def fmt(v, d=2):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.{d}f}"
    return f"{v:,}"


print(f"\nload before: {result['load_before']}\nload after:  {result['load_after']}")
print(f"\nmigrate into SQLite, {fmt(bucket and bucket['records'])} records "
      f"({fmt((bucket or {}).get('shard_bytes', 0) / 1e6, 0)} MB of shards), {len(mig)} rounds:")
print(f"{'round':>5} {'baseline/s':>11} {'new/s':>9} {'floor/s':>9} {'new/base':>9} {'new/floor':>9} {'RSS base MB':>11} {'RSS new MB':>10}")
for m in mig:
    print(f"{m['round']:>5} {fmt(m['baseline_records_per_s'],0):>11} {fmt(m['new_records_per_s'],0):>9} "
          f"{fmt(m['floor_records_per_s'],0):>9} {fmt(m['new_over_baseline']):>9} {fmt(m['new_over_floor']):>9} "
          f"{fmt(m['baseline_peak_rss_mb'],0):>11} {fmt(m['new_peak_rss_mb'],0):>10}")
g = migrate["generated_source"]
if g:
    print(f"generated source: {fmt(g['records'])} records, {fmt(g['records_per_s'],0)}/s, "
          f"peak RSS {fmt(g['peak_rss_mb'],0)} MB (templates loaded: {fmt(g['peak_rss_before_migrate_mb'],0)} MB)")

for name, rows in (("SQLite", sqlite_growth), ("DynamoDB (moto)", dynamo_growth)):
    if not rows:
        continue
    print(f"\n{name} growth:")
    print(f"{'size':>9} {'saves/s':>8} {'miner+conv p50/p99 ms':>22} {'miner p50/p99 ms':>17} {'env p50/p99 ms':>15} "
          f"{'cleanup us/del':>14} {'stats ms':>9} {'bytes/sample':>12}")
    for r in rows:
        print(f"{r['size']:>9,} {fmt(r['saves_per_s'],0):>8} "
              f"{fmt(r['by_miner_with_p50_ms'])+' / '+fmt(r['by_miner_with_p99_ms']):>22} "
              f"{fmt(r['by_miner_without_p50_ms'])+' / '+fmt(r['by_miner_without_p99_ms']):>17} "
              f"{fmt(r['by_env_p50_ms'])+' / '+fmt(r['by_env_p99_ms']):>15} "
              f"{fmt(r['cleanup_us_per_deleted'],1):>14} {fmt(r['stats_ms'],1):>9} {fmt(r['file_bytes_per_sample'],0):>12}")

if batching and batching.get("dynamodb"):
    print("\nDynamoDB writes (batching bench; items/s, criterion medians; ratios paired):")
    for link, d in batching["dynamodb"].items():
        print(f"  {link:>8}: single {fmt(d['single_puts_per_s'],0)}/s, batched {fmt(d['batched_per_s'],0)}/s, "
              f"ceiling {fmt(d['ceiling_per_s'],0)}/s; batched/single {fmt(d['batched_over_single_paired'])}, "
              f"batched/ceiling {fmt(d['batched_over_ceiling_paired'])}")
for link, d in dyn_migrate.items():
    print(f"  migrate fixture, {link} added: {fmt(d['records_per_s'],0)} records/s, "
          f"{fmt(d['requests_per_1000_migrated'],1)} requests per 1,000 migrated")

print("\ncriteria:")
for c in crit:
    verdict = {True: "met", False: "NOT MET", None: "not measured"}[c["met"]]
    print(f"  {verdict:>12}  {c['criterion']}: {fmt(c['value'])} (target {c['target']})")
print(f"\nresults written to {out_path}")
