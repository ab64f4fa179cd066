#!/usr/bin/env python3
"""Data-parallel scaling model (docs/distributed.md): predicted scaling efficiency of ResNet-50 / ViT-S / TNT-S
on 1-64 nodes from a node's measured training speed and the network's latency and bandwidth.

Per step (weak scaling: each node keeps its batch b):  T(R) = t_compute + t_allreduce(R), no overlap, with
  t_compute = b / (images/s of one node),
  t_allreduce(R) = buckets x 2 (R-1) x alpha + 2 (R-1)/R x G / bandwidth   (ring allreduce, G = 4 x params bytes,
                   buckets = ceil(G / 25 MB): each bucket pays the ring's 2 (R-1) latency steps),
  efficiency(R) = t_compute / T(R).
With --check <record.h5> (a 2-rank `vitbench train` record) and --alpha/--bw from `vitbench allreduce` on the same
ranks, also prints the measured allreduce time per step next to the model's."""
import argparse
import math

# Measured f32 training images/s of one 2-core node (2 threads, batch 32, 224x224) from docs/throughput.md's
# table (2026-11-27), and the parameter counts of `vitbench models`.
MODELS = {"resnet50": (5.56, 25_557_032), "vit_small_patch16_224": (5.87, 22_050_664),
          "tnt_s_patch16_224": (4.00, 23_768_584)}
BUCKET = 25e6


def allreduce_s(params, ranks, alpha, bw_bytes):
    if ranks == 1:
        return 0.0
    g = 4.0 * params
    return math.ceil(g / BUCKET) * 2 * (ranks - 1) * alpha + 2 * (ranks - 1) / ranks * g / bw_bytes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alpha", type=float, default=5e-6, help="per-hop latency, seconds (vitbench allreduce: alpha)")
    ap.add_argument("--gbits", type=float, nargs="+", default=[25, 100], help="link bandwidths, Gb/s")
    ap.add_argument("--batch", type=int, default=32, help="images per node per step")
    ap.add_argument("--speedup", type=float, default=1.0,
                    help="node compute relative to the measured 2-core node (e.g. 32 for a 64-core node)")
    ap.add_argument("--check", help="a 2-rank train record.h5: compare its allreduce time per step with the model")
    ap.add_argument("--bw", type=float, help="with --check: measured allreduce bandwidth, bytes/s (message/time)")
    a = ap.parse_args()
    nodes = [1, 2, 4, 8, 16, 32, 64]
    for gbit in a.gbits:
        bw = gbit * 1e9 / 8
        print(f"\n{gbit:g} Gb/s, alpha {a.alpha * 1e6:g} us, batch {a.batch}/node, node speed x{a.speedup:g}")
        print(f"{'model':<24}{'t_compute s':>12}" + "".join(f"{n:>8}" for n in nodes))
        for name, (ips, params) in MODELS.items():
            tc = a.batch / (ips * a.speedup)
            eff = [tc / (tc + allreduce_s(params, n, a.alpha, bw)) for n in nodes]
            print(f"{name:<24}{tc:>12.3f}" + "".join(f"{e:>8.3f}" for e in eff))
    if a.check:
        import h5py, json
        rec = h5py.File(a.check, "r")
        cfg = json.loads(rec.attrs["config"])
        ranks, steps = int(rec.attrs["world_size"]), int(rec.attrs["steps"])
        params = cfg["resolved"]["params"]
        # The transfer alone: the allreduce time less the wait for the slowest rank (allreduce_wait_s).
        measured = (float(rec.attrs["allreduce_s"]) - float(rec.attrs.get("allreduce_wait_s", 0))) / steps
        bw = a.bw if a.bw else a.gbits[0] * 1e9 / 8
        # The measured bandwidth is message bytes / time (vitbench allreduce), which already includes the
        # ring's 2 (R-1)/R factor: predict with it directly.
        model = math.ceil(4 * params / BUCKET) * a.alpha + 4 * params / bw
        print(f"\ncheck {a.check}: {ranks} ranks, {params} params, measured allreduce transfer {measured * 1e3:.3f} ms/step, "
              f"model {model * 1e3:.3f} ms/step (ratio {measured / model:.2f}); allreduce share of training "
              f"{float(rec.attrs['allreduce_share']) * 100:.2f}%")
        if "allreduce_mpi_s" in rec.attrs:  # records since 2026-12-06 split the transfer into MPI and packing
            mpi = float(rec.attrs["allreduce_mpi_s"]) / steps
            print(f"  of the transfer: inside MPI_Allreduce {mpi * 1e3:.3f} ms/step (ratio to the model {mpi / model:.2f}), "
                  f"packing gradients into and out of buckets {(measured - mpi) * 1e3:.3f} ms/step")


if __name__ == "__main__":
    main()
