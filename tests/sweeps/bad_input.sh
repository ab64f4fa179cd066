#!/usr/bin/env bash
# `sweep plan` refuses bad sweeps before any run starts, naming the file and the field: an unknown key, an axis
# value the model rejects, a subset larger than the split, a missing dataset, a planned time above the tier's
# limit, an unknown tier; a different manifest is never overwritten; a pair's partner is refused on another CPU
# kind (and `sweep run` leaves it pending); `sweep run --index` runs only the lines asked for.
# usage: bad_input.sh <vitbench>
set -euo pipefail
vitbench=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
expect="$(dirname "$0")/../cli/expect.sh"
write() {  # write <name> <python expression editing dict s>
  /usr/bin/python3 - "$dir/$1.json" "$2" <<'PY'
import json, sys
s = {"sweep": "bad", "base": {"model": "vit_tiny_patch4_32", "overrides": ["img_size=16", "depth=1"],
     "dataset": "synthetic:train=192,test=64,classes=4,size=16", "val_size": 64, "batch": 32, "steps": 2},
     "arms": [{"name": "a"}], "axes": {"seed": [0]}, "tiers": {"smoke": {"max_hours": 0.01}},
     "seconds_per_step": {"vit_tiny_patch4_32": {"seconds": 0.01, "batch": 32}}}
exec(sys.argv[2])
json.dump(s, open(sys.argv[1], "w"))
PY
}
plan() { "$expect" 1 "$1" "$vitbench" sweep plan "$dir/$2.json" --tier smoke --out "$dir/out-$2" --allow-dirty; }
write unknown_key 's["axis"] = {}'
plan "unknown_key.json: axis: unknown key" unknown_key
write unknown_arm_key 's["arms"][0]["overides"] = []'
plan "unknown_arm_key.json: arms\[0\].overides: unknown key" unknown_arm_key
write bad_axis 's["axes"]["overrides"] = [["num_heads=5"]]'
plan "bad_axis.json: tier smoke arm a .*num_heads" bad_axis
write unknown_setting 's["base"]["epochz"] = 3'
plan "unknown_setting.json: tier smoke arm a .*unknown training setting 'epochz'" unknown_setting
write too_big 's["axes"]["train_size"] = [64, 500]'
plan "too_big.json: tier smoke arm a \(seed=0,train_size=500\) train_size: 500 is more than the 128 training images" too_big
write no_data 's["base"]["dataset"] = "folder:/nonexistent/cifar"'
plan "no_data.json: tier smoke arm a .* dataset: .*nonexistent" no_data
write too_long 's["base"]["steps"] = 100000'
plan "too_long.json: tiers.smoke.max_hours: the plan needs an estimated .* machine-hours .* above the tier's limit of 0.01" too_long
write no_tier 'pass'
"$expect" 1 "no_tier.json: tiers: has no tier 'quick' \(this sweep has: smoke\)" \
  "$vitbench" sweep plan "$dir/no_tier.json" --tier quick --out "$dir/out-q" --allow-dirty
write wrong_type 's["arms"][0]["name"] = 3'
plan "wrong_type.json: a value has the wrong type: .*type must be string" wrong_type
# A throughput sweep (kind = throughput): its settings are checked the same way.
tp='s.update(kind="throughput", base={"model": "vit_tiny_patch4_32", "batch": 2, "iters": 1}); s["seconds_per_step"] = {"vit_tiny_patch4_32": {"infer": 0.01, "train": 0.03, "batch": 2}}'
write tp_framework "$tp"'; s["arms"][0]["set"] = {"framework": "tensorflow"}; s["axes"] = {}'
plan "tp_framework.json: tier smoke arm a .*framework: 'tensorflow' \(vitbench, pytorch or onnxruntime\)" tp_framework
write tp_setting "$tp"'; s["base"]["epochs"] = 3; s["axes"] = {}'
plan "tp_setting.json: tier smoke arm a .*epochs: unknown throughput setting" tp_setting
write tp_kind 's["kind"] = "inference"'
plan "tp_kind.json: kind: 'inference' \(train or throughput\)" tp_kind
write tp_arms 's["tiers"]["smoke"]["arms"] = ["b"]'
plan "tp_arms.json: tiers.smoke.arms: 'b' is not an arm" tp_arms
write no_speed 's["seconds_per_step"] = {}'
plan "no_speed.json: seconds_per_step: has no entry for vit_tiny_patch4_32" no_speed
write bad_threads 's["seconds_per_step"]["vit_tiny_patch4_32"]["threads"] = 0'
plan "bad_threads.json: seconds_per_step.vit_tiny_patch4_32.threads: 0 is not a thread count" bad_threads
# A throughput sweep runs one measurement at a time: `sweep run --jobs 2` is refused before any line starts.
write tp_jobs "$tp"'; s["axes"] = {}'
"$vitbench" sweep plan "$dir/tp_jobs.json" --tier smoke --out "$dir/tpj" --allow-dirty
"$expect" 1 "tpj: a throughput sweep runs one line at a time \(--jobs 2\)" "$vitbench" sweep run "$dir/tpj" --jobs 2
[[ -z $(find "$dir/tpj" -name record.h5) ]] || { echo "bad_input: --jobs 2 ran a throughput line"; exit 1; }
for case in unknown_key bad_axis too_big no_data too_long no_speed bad_threads; do
  [[ ! -e "$dir/out-$case" ]] || { echo "bad_input: $case left a sweep folder behind"; exit 1; }
done
# The planned time: seconds_per_step measured at 2 threads gives a 1-thread run twice the seconds (2 steps x 0.01 s
# x 2 / 1), and `sweep run` starts cores / 1 such runs at once.
write timed 's["seconds_per_step"]["vit_tiny_patch4_32"]["threads"] = 2'
out=$("$vitbench" --threads 1 sweep plan "$dir/timed.json" --tier smoke --out "$dir/t" --allow-dirty)
est=$(/usr/bin/python3 -c "import json, sys; print(json.loads(open(sys.argv[1]).readline())['est_seconds'])" "$dir/t/sweep.jsonl")
[[ $est == 0.04 ]] || { echo "bad_input: a 1-thread run of a 2-thread measurement planned $est s, not 0.04"; exit 1; }
[[ $out == *"($(nproc) at once, 1 thread(s) each)"* ]] || { echo "bad_input: plan said: $out"; exit 1; }
# A manifest is immutable: planning a changed sweep into the same folder is refused without --force.
write good 'pass'
"$vitbench" sweep plan "$dir/good.json" --tier smoke --out "$dir/g" --allow-dirty
"$vitbench" sweep plan "$dir/good.json" --tier smoke --out "$dir/g" --allow-dirty  # the same plan: kept
write good 's["axes"]["seed"] = [0, 1]'
"$expect" 1 "sweep.jsonl: a different manifest is there already" "$vitbench" sweep plan "$dir/good.json" --tier smoke --out "$dir/g" --allow-dirty
"$expect" 1 "no run --index 7 in the manifest \(1 lines\)" "$vitbench" sweep exec "$dir/g" --index 7
# Paired arms run on one CPU kind: once a pair's first run finished, its partner is refused on another ISA or on
# another CPU model with the same ISA (the finished record is edited to look as if it came from elsewhere).
write paired 's["arms"] = [{"name": "a"}, {"name": "b", "set": {"lr": 0.002}}]'
"$vitbench" --threads 1 sweep plan "$dir/paired.json" --tier smoke --out "$dir/p" --allow-dirty
"$vitbench" --threads 1 sweep exec "$dir/p" --index 0 --quiet
rec=$(find "$dir/p" -name record.h5)
retag() { /usr/bin/python3 -c "import h5py, sys; h5py.File(sys.argv[1], 'r+').attrs[sys.argv[2]] = sys.argv[3]" "$rec" "$1" "$2"; }
attr() { /usr/bin/python3 -c "import h5py, sys; print(h5py.File(sys.argv[1], 'r').attrs[sys.argv[2]])" "$rec" "$1"; }
isa=$(attr isa) model=$(attr cpu_model)
retag cpu_model "Other CPU"
"$expect" 1 "b-seed0-.*: its pair \(seed=0\) ran on $isa on Other CPU \(a-seed0-.*\); this CPU is $isa on .*: paired arms must run on the same CPU kind" \
  "$vitbench" --threads 1 sweep exec "$dir/p" --index 1 --quiet
retag cpu_model "$model"  # this CPU's model again: only the ISA differs
retag isa other_isa
"$expect" 1 "its pair \(seed=0\) ran on other_isa on " "$vitbench" --threads 1 sweep exec "$dir/p" --index 1 --quiet
# `sweep run` leaves such a line pending for a machine of that kind: not failed (no failed.json, exit 0), and
# `sweep status` says why it is not run here.
"$vitbench" sweep run "$dir/p" --quiet > "$dir/run.out" 2> "$dir/run.err" || { cat "$dir/run.err"; echo "bad_input: sweep run failed on a line of another CPU kind"; exit 1; }
grep -q "b-seed0-.*: left pending: its pair (seed=0) ran on other_isa on " "$dir/run.err" || { cat "$dir/run.err"; echo "bad_input: no 'left pending' line"; exit 1; }
grep -q "1 run(s) left pending: their pairs ran on another CPU kind" "$dir/run.err" || { cat "$dir/run.err"; echo "bad_input: no summary of the runs left pending"; exit 1; }
[[ -z $(find "$dir/p" -name failed.json) ]] || { echo "bad_input: a line of another CPU kind got a failed.json"; exit 1; }
"$vitbench" sweep status "$dir/p" -v > "$dir/status.out"
grep -q "1 complete, 0 interrupted, 0 failed, 1 pending, 0 running (1 of the runs left cannot run here: their pairs ran on another CPU kind)" "$dir/status.out" &&
  grep -q "^pending .*b-seed0-.*for other_isa on .* (its pair ran there)" "$dir/status.out" ||
  { cat "$dir/status.out"; echo "bad_input: sweep status does not show the line left pending"; exit 1; }
[[ $(find "$dir/p" -name record.h5 | wc -l) == 1 ]] || { echo "bad_input: a refused pair partner ran"; exit 1; }
# `sweep run --index` runs only the lines asked for; a line the manifest does not have is refused.
write lines 's["axes"]["seed"] = [0, 1, 2]'
"$vitbench" --threads 1 sweep plan "$dir/lines.json" --tier smoke --out "$dir/l" --allow-dirty
"$expect" 1 "l/sweep.jsonl: --index: no line 3 \(the manifest has lines 0 to 2\)" "$vitbench" sweep run "$dir/l" --index 1,3
"$expect" 1 "--index: 'x' is not a line number or a range" "$vitbench" sweep run "$dir/l" --index x
"$vitbench" sweep run "$dir/l" --index 1-2 --quiet 2> /dev/null
ran=$(find "$dir/l" -name record.h5 | sort | xargs -n1 dirname | xargs -n1 basename | cut -d- -f2 | tr '\n' ' ')
[[ $ran == "seed1 seed2 " ]] || { echo "bad_input: sweep run --index 1-2 ran: $ran"; exit 1; }
echo "bad_input: ok"
