"""The published claims the experiment sweeps test, and the published figures shown beside ours, as plain data.
Every number is from /work/shared/REFERENCE.md (the papers' tables); `source` says which table. The verdict rule
that decides each claim is stats.verdict (docs/statistics.md). Importable, no side effects.
"""
from dataclasses import dataclass

# Effects, what they are computed from (report.py computes each from the runs of one sweep and tier):
PAIRED = "paired"  # mean over pairs of A - B (every pair of the sweep)
PAIRED_SMALLEST = "paired_smallest_size"  # the same, over the pairs at the smallest train size only
GAP_SLOPE = "gap_slope"  # least-squares slope of the paired A - B against log2(train size), every pair
# Receptive-field effects: one value per seed from arm A's rf result of its trained final weights (the data_scaling
# runs' rf step, `<run>.rf.h5`); the estimate is the mean over seeds minus `threshold` (stats.one_sample_estimate).
RF_ATTN_SLOPE = "rf_attention_slope"  # least-squares slope of the mean-over-heads attention distance on block 1..B
RF_GLOBAL_HEAD = "rf_global_head_block1"  # block 1's farthest-looking head / the uniform-attention distance
RF_ERF_FILL = "rf_erf_fill"  # ERF 90%-mass area / theoretical field area, deepest tap whose field fits the image
RF_ERF_GROWTH = "rf_erf_growth"  # least-squares slope of log ERF side90 on log theoretical side, taps inside the image
RF_EFFECTS = (RF_ATTN_SLOPE, RF_GLOBAL_HEAD, RF_ERF_FILL, RF_ERF_GROWTH)

# "Global" head: mean attention distance above this share of the uniform-attention distance. A head that attends
# uniformly to every patch within a Chebyshev radius of half the grid side around the query scores 0.73 on an
# 8x8 grid and 0.70 on ViT-B/16's 14x14 one; one that attends to the 3x3 patches around it 0.25 and 0.14.
GLOBAL_FRACTION = 0.75
# "Only a fraction of the theoretical field": the 90%-mass area below half of it. A uniform ERF over the field
# scores 0.9; a Gaussian whose +-3 sigma spans the field pi (2.146 sigma)^2 / (6 sigma)^2 = 0.40.
ERF_FILL_LIMIT = 0.5
# "Grows like sqrt(depth)": in a stack of n equal convolutions the theoretical side grows like n and Luo et al.'s ERF
# like sqrt(n), so log ERF side on log theoretical side has slope 0.5; 1 would be an ERF that keeps its share of the
# field. The claim tested is the shape, growth slower than the field (slope < 1); 0.5 is shown beside it.
ERF_GROWTH_LIMIT = 1.0
LUO_EXPONENT = 0.5


@dataclass(frozen=True)
class Claim:
    """One published claim "A > B", "A < B" or "A ≈ B" between two arms of a sweep, or, for the receptive-field
    effects, "A's value > threshold" (or "<"; b is then empty). `id` is the name the sweep definitions
    (experiments/sweeps/*.json, "claims") use for it.
    d_pub: the published effect in points (None when the source gives no number); margin: for "≈" claims, the
    largest |A - B| still called equal (docs/statistics.md says why each margin is what it is); threshold: the
    constant a receptive-field value is compared with (0 for a slope)."""
    id: str
    sweep: str
    a: str
    b: str
    kind: str
    effect: str
    d_pub: float | None
    margin: float | None
    published: str
    source: str
    statement: str
    threshold: float = 0.0


VIT_T8 = "ViT Table 8 (ViT-B/16, ImageNet 5-shot linear, %)"
TNT_T6 = "TNT Table 6 (TNT-S, ImageNet top-1, %)"
VIT_F4 = "ViT Fig. 4 (JFT-300M subsets 9M-300M, ImageNet 5-shot linear)"
VIT_F7 = "ViT Fig. 7 (mean attention distance per head and block, 128 images)"
LUO = "Luo et al. 2016 (ERF: gradient of the centre unit, averaged over images)"

CLAIMS = (
    Claim("vit_pe_1d_gt_none", "pe_ablation_vit", "learned_1d", "none", ">", PAIRED, 2.824, None,
          "+2.824 (64.206 vs 61.382)", VIT_T8, "ViT: learned 1-D position embedding > none"),
    Claim("vit_pe_2d_gt_none", "pe_ablation_vit", "learned_2d", "none", ">", PAIRED, 2.619, None,
          "+2.619 (64.001 vs 61.382)", VIT_T8, "ViT: learned 2-D position embedding > none"),
    Claim("vit_pe_1d_eq_2d", "pe_ablation_vit", "learned_1d", "learned_2d", "≈", PAIRED, 0.205, 1.0,
          "0.205 apart (64.206 vs 64.001); margin 1.0", VIT_T8, "ViT: 1-D ≈ 2-D position embedding"),
    Claim("tnt_pe_both_gt_outer", "pe_ablation_tnt", "both", "outer", ">", PAIRED, 0.7, None,
          "+0.7 (81.5 vs 80.8)", TNT_T6, "TNT: both position encodings > outer only"),
    Claim("tnt_pe_both_gt_inner", "pe_ablation_tnt", "both", "inner", ">", PAIRED, 0.8, None,
          "+0.8 (81.5 vs 80.7)", TNT_T6, "TNT: both position encodings > inner only"),
    Claim("tnt_pe_outer_gt_none", "pe_ablation_tnt", "outer", "none", ">", PAIRED, 0.3, None,
          "+0.3 (80.8 vs 80.5)", TNT_T6, "TNT: outer position encoding > none"),
    Claim("tnt_pe_inner_gt_none", "pe_ablation_tnt", "inner", "none", ">", PAIRED, 0.2, None,
          "+0.2 (80.7 vs 80.5)", TNT_T6, "TNT: inner position encoding > none"),
    Claim("scaling_resnet_gt_vit_small", "data_scaling", "resnet", "vit", ">", PAIRED_SMALLEST, None, None,
          "ResNets ahead at 9M (no number)", VIT_F4, "Data scaling: ResNet > ViT at the smallest train size"),
    Claim("scaling_resnet_gt_tnt_small", "data_scaling", "resnet", "tnt", ">", PAIRED_SMALLEST, None, None,
          "(TNT not in Fig. 4; CNN ahead with little data)", VIT_F4,
          "Data scaling: ResNet > TNT at the smallest train size"),
    Claim("scaling_vit_gap_shrinks", "data_scaling", "resnet", "vit", "<", GAP_SLOPE, None, None,
          "gap closes: ResNets ahead at 9M, ViT ahead from 90M (no number)", VIT_F4,
          "Data scaling: the ResNet - ViT gap shrinks with size (slope vs log2 size < 0)"),
    Claim("rf_vit_distance_grows", "data_scaling", "vit", "", ">", RF_ATTN_SLOPE, None, None,
          "distance grows with depth (no number)", VIT_F7,
          "RF: ViT's mean attention distance grows with depth (slope per block > 0)"),
    Claim("rf_vit_global_head_block1", "data_scaling", "vit", "", ">", RF_GLOBAL_HEAD, None, None,
          "some heads global already in block 1 (no number)", VIT_F7,
          f"RF: some ViT head global in block 1 (farthest head > {GLOBAL_FRACTION:g} x uniform)",
          GLOBAL_FRACTION),
    Claim("rf_tnt_distance_grows", "data_scaling", "tnt", "", ">", RF_ATTN_SLOPE, None, None,
          "(TNT not in Fig. 7; its outer attention by extension)", VIT_F7,
          "RF: TNT's outer attention distance grows with depth (slope per block > 0)"),
    Claim("rf_tnt_global_head_block1", "data_scaling", "tnt", "", ">", RF_GLOBAL_HEAD, None, None,
          "(TNT not in Fig. 7; its outer attention by extension)", VIT_F7,
          f"RF: some TNT outer head global in block 1 (farthest head > {GLOBAL_FRACTION:g} x uniform)",
          GLOBAL_FRACTION),
    Claim("rf_resnet_erf_fraction", "data_scaling", "resnet", "", "<", RF_ERF_FILL, None, None,
          "ERF fills only a fraction of the theoretical RF (no number)", LUO,
          f"RF: ResNet's ERF fills < {ERF_FILL_LIMIT:g} of its theoretical RF (90% mass)", ERF_FILL_LIMIT),
    Claim("rf_resnet_erf_sublinear", "data_scaling", "resnet", "", "<", RF_ERF_GROWTH, None, None,
          f"ERF grows like sqrt(depth): slope {LUO_EXPONENT:g} for a stack of equal convs (no number for ResNets)",
          LUO, f"RF: ResNet's ERF grows slower than its theoretical RF (log-log slope < {ERF_GROWTH_LIMIT:g})",
          ERF_GROWTH_LIMIT),
)


@dataclass(frozen=True)
class Published:
    """A published figure shown beside one arm of a sweep: `value` (percent, None when only text) and its source."""
    value: float | None
    text: str
    source: str


# sweep -> arm -> the published ImageNet figure for that arm (arms absent here get "-").
PUBLISHED = {
    "pe_ablation_vit": {
        "none": Published(61.382, "61.382", VIT_T8),
        "learned_1d": Published(64.206, "64.206", VIT_T8),
        "learned_2d": Published(64.001, "64.001", VIT_T8),
        # sincos_2d is not in Table 8 (its fourth row is relative attention, 64.032).
    },
    "pe_ablation_tnt": {
        "none": Published(80.5, "80.5", TNT_T6),
        "outer": Published(80.8, "80.8", TNT_T6),
        "inner": Published(80.7, "80.7", TNT_T6),
        "both": Published(81.5, "81.5", TNT_T6),
    },
    "data_scaling": {
        "vit": Published(None, "ViT-B/16 77.91 / 83.97 / 84.15 (pre-trained on ImageNet / -21k / JFT-300M); "
                               "CIFAR-10 from scratch: ViT-Lite-7/4 91.38",
                         "ViT Table 5 (ImageNet top-1 after fine-tuning); CCT README (200 epochs)"),
        "resnet": Published(None, "ahead of ViT on the 9M JFT subset", VIT_F4),
    },
}

@dataclass(frozen=True)
class RelativeSpeed:
    """A published speed of model `a` over model `b` (images/s a / images/s b), f32 inference: the papers' absolute
    figures come from other hardware (a V100, a 10-core desktop CPU), so only the ratio between models carries over.
    `gpu`, `cpu`: the ratio (None when the source lacks one of the two models) and its text."""
    a: str
    b: str
    gpu: float | None
    gpu_text: str
    cpu: float | None
    cpu_text: str


DEIT_T5 = "DeiT Table 5 (V100, fp32 inference)"
TNT_T5 = "TNT Table 5 (V100)"
TIMM_CPU = "timm CPU table (i9-10940X, batch 1, fp32)"
RELATIVE_SPEED = (
    RelativeSpeed("tnt_s_patch16_224", "vit_small_patch16_224", 428 / 907, f"0.47 (428 / 907; {TNT_T5})",
                  54.0 / 76.4, f"0.71 (54.0 / 76.4; {TIMM_CPU})"),
    RelativeSpeed("resnet50", "vit_small_patch16_224", 1226 / 940, f"1.30 (1226 / 940; {DEIT_T5})",
                  67.2 / 76.4, f"0.88 (67.2 / 76.4; {TIMM_CPU})"),
    RelativeSpeed("tnt_s_patch16_224", "resnet50", None, "-", 54.0 / 67.2, f"0.80 (54.0 / 67.2; {TIMM_CPU})"),
)


# The sweeps the report summarises: name -> (reference arm when sweep.json names none, what the sweep asks).
SWEEPS = {
    "lr_probe": ("vit_lr5e-4", "peak learning rate of each recipe, chosen on validation (the recipe rule)"),
    "pe_ablation_vit": ("learned_1d", "ViT position-embedding ablation (ViT Table 8)"),
    "pe_ablation_tnt": ("both", "TNT position-encoding ablation (TNT Table 6)"),
    "data_scaling": ("resnet", "accuracy against train size, ResNet vs ViT vs TNT (ViT Fig. 4 / Table 5)"),
    "bf16_training": ("resnet_f32", "bf16 mixed-precision training vs f32 on the small presets (the bf16 rule)"),
}


@dataclass(frozen=True)
class Bf16Rule:
    """The suite's own rule for bf16 in the sweeps (not a published claim; docs/statistics.md, "The bf16 rule"): a
    sweep may train `model` in bf16 when the bf16 arm is >= BF16_MIN_SPEEDUP x as fast as the f32 arm (training
    images/s of the paired runs) and the 95% interval of the paired top-1 change bf16 - f32 lies within
    +-BF16_MARGIN points. `id` is the name bf16_training.json's "claims" use."""
    id: str
    sweep: str
    model: str
    bf16: str  # the bf16 arm
    f32: str  # its f32 reference arm


BF16_MARGIN = 0.5  # points of test top-1
BF16_MIN_SPEEDUP = 1.3
BF16_RULES = (
    Bf16Rule("bf16_resnet_eq_f32", "bf16_training", "resnet50_w16_32", "resnet_bf16", "resnet_f32"),
    Bf16Rule("bf16_vit_eq_f32", "bf16_training", "vit_tiny_patch4_32", "vit_bf16", "vit_f32"),
    Bf16Rule("bf16_tnt_eq_f32", "bf16_training", "tnt_tiny_patch8_32", "tnt_bf16", "tnt_f32"),
)

# sweep -> arm -> the arm it is compared with in pairs when that is not the sweep's reference arm.
ARM_REFERENCES = {}
for _r in BF16_RULES:
    ARM_REFERENCES.setdefault(_r.sweep, {})[_r.bf16] = _r.f32

# The recipe rule (docs/sweeps.md, "The recipe"): the experiment sweeps train each model at the peak learning rate
# of its lr_probe arm with the best mean validation top-1 (never the test split).
LR_PROBE = "lr_probe"
