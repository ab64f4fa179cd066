"""PyTorch reference models for vitbench's parity tests: ResNet-50 (torchvision v1.5), ViT (timm) and TNT
(timm, non-legacy), written in plain PyTorch with state_dict keys exactly as torchvision/timm, plus the
registry of presets (frozen data, duplicate names refused). `python3 tests/parity/torch_models.py` prints
every preset's parameter count and MACs and asserts the published counts (shared/REFERENCE.md)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FAMILIES = ("resnet", "vit", "tnt")
STEMS = ("imagenet", "cifar")
POS_EMBEDS = ("none", "learned_1d", "learned_2d", "sincos_2d")
TNT_POS = ("none", "inner", "outer", "both")


@dataclass(frozen=True)
class ModelConfig:
    """Every setting of every family in one flat record; fields a family does not use are ignored."""

    name: str
    family: str  # 'resnet' | 'vit' | 'tnt'
    img_size: int
    in_chans: int = 3
    num_classes: int = 1000
    # ResNet
    layers: tuple = (3, 4, 6, 3)
    base_width: int = 64  # channels of the stem and of layer1's 3x3 convs; stage s uses base_width * 2^s
    stem: str = "imagenet"  # 'imagenet': 7x7 s2 conv + 3x3 s2 maxpool | 'cifar': 3x3 s1 conv, no maxpool
    # ViT and TNT (TNT: embed_dim / num_heads / depth are the outer transformer's)
    patch_size: int = 16
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_dim: int = 3072  # ViT only; TNT uses mlp_ratio
    qkv_bias: bool = True
    pos_embed: str = "learned_1d"  # ViT: 'none' | 'learned_1d' | 'learned_2d' | 'sincos_2d'
    ln_eps: float = 1e-6
    # TNT
    inner_dim: int = 48  # c, channels of a word (pixel) embedding
    inner_heads: int = 4
    mlp_ratio: float = 4.0
    inner_mlp_ratio: float = 4.0
    word_kernel: int = 7  # the word embedding is a conv applied to each patch separately
    word_stride: int = 4
    word_padding: int = 3
    tnt_pos: str = "both"  # 'none' | 'inner' (pixel_pos) | 'outer' (patch_pos) | 'both'

    def __post_init__(self):
        def need(ok, what):
            if not ok:
                raise ValueError(f"ModelConfig {self.name!r}: {what}")

        need(self.family in FAMILIES, f"family {self.family!r} not in {FAMILIES}")
        need(self.img_size > 0 and self.in_chans > 0 and self.num_classes > 0, "sizes must be positive")
        if self.family == "resnet":
            need(self.stem in STEMS, f"stem {self.stem!r} not in {STEMS}")
            need(len(self.layers) == 4 and min(self.layers) > 0, "layers must be 4 positive counts")
            need(self.base_width > 0, "base_width must be positive")
        else:
            need(self.patch_size > 0 and self.img_size % self.patch_size == 0, "img_size % patch_size != 0")
            need(self.depth > 0 and self.embed_dim % self.num_heads == 0, "embed_dim % num_heads != 0")
        if self.family == "vit":
            need(self.pos_embed in POS_EMBEDS, f"pos_embed {self.pos_embed!r} not in {POS_EMBEDS}")
            if self.pos_embed == "learned_2d":
                need(self.embed_dim % 2 == 0, "learned_2d needs an even embed_dim")
            if self.pos_embed == "sincos_2d":
                need(self.embed_dim % 4 == 0, "sincos_2d needs embed_dim % 4 == 0")
        if self.family == "tnt":
            need(self.tnt_pos in TNT_POS, f"tnt_pos {self.tnt_pos!r} not in {TNT_POS}")
            need(self.inner_dim % self.inner_heads == 0, "inner_dim % inner_heads != 0")
            need(self.word_kernel > 0 and self.word_stride > 0 and self.word_padding >= 0, "bad word conv")
            need(self.words_per_side > 0, "word conv leaves no words")

    @property
    def grid(self) -> int:  # patches per side
        return self.img_size // self.patch_size

    @property
    def words_per_side(self) -> int:  # output side of the word conv applied to one patch
        return (self.patch_size + 2 * self.word_padding - self.word_kernel) // self.word_stride + 1

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def override(cfg: ModelConfig, **kw) -> ModelConfig:
    """A copy of `cfg` with some fields replaced (validated again)."""
    return dataclasses.replace(cfg, **kw)


# ----------------------------------------------------------------------------------------------------------
# Presets

PRESETS: dict[str, ModelConfig] = {}


def register(cfg: ModelConfig) -> ModelConfig:
    if cfg.name in PRESETS:
        raise ValueError(f"preset {cfg.name!r} registered twice")
    PRESETS[cfg.name] = cfg
    return cfg


def _vit(name, img_size, patch_size, embed_dim, depth, num_heads, mlp_dim, **kw):
    return register(ModelConfig(name=name, family="vit", img_size=img_size, patch_size=patch_size,
                                embed_dim=embed_dim, depth=depth, num_heads=num_heads, mlp_dim=mlp_dim,
                                qkv_bias=True, pos_embed="learned_1d", ln_eps=1e-6, **kw))


def _tnt(name, img_size, patch_size, embed_dim, num_heads, inner_dim, inner_heads, depth, **kw):
    # timm's TNT: nn.LayerNorm default eps 1e-5, no qkv bias.
    return register(ModelConfig(name=name, family="tnt", img_size=img_size, patch_size=patch_size,
                                embed_dim=embed_dim, num_heads=num_heads, inner_dim=inner_dim,
                                inner_heads=inner_heads, depth=depth, qkv_bias=False, ln_eps=1e-5,
                                tnt_pos="both", **kw))


# ImageNet-size presets (parameter counts asserted in __main__).
register(ModelConfig(name="resnet50", family="resnet", img_size=224))
_vit("vit_tiny_patch16_224", 224, 16, 192, 12, 3, 768)
_vit("vit_small_patch16_224", 224, 16, 384, 12, 6, 1536)
_vit("vit_base_patch16_224", 224, 16, 768, 12, 12, 3072)
_tnt("tnt_s_patch16_224", 224, 16, 384, 6, 24, 4, 12)
_tnt("tnt_b_patch16_224", 224, 16, 640, 10, 40, 4, 12)

# 32x32 presets for CIFAR-10-sized experiments (10 classes).
register(ModelConfig(name="resnet50_32", family="resnet", img_size=32, num_classes=10, stem="cifar"))
register(ModelConfig(name="resnet50_w16_32", family="resnet", img_size=32, num_classes=10, stem="cifar",
                     base_width=16))
_vit("vit_tiny_patch4_32", 32, 4, 192, 9, 3, 384, num_classes=10)
# 8x8 patches cut by a 3x3 stride-2 pad-1 conv into 4x4 = 16 words of 2x2 pixels, as TNT-S/16 has 16 words.
_tnt("tnt_tiny_patch8_32", 32, 8, 192, 3, 12, 2, 9, num_classes=10, mlp_ratio=2.0, inner_mlp_ratio=2.0,
     word_kernel=3, word_stride=2, word_padding=1)

# Published parameter counts (shared/REFERENCE.md).
EXPECTED_PARAMS = {
    "resnet50": 25_557_032,
    "vit_tiny_patch16_224": 5_717_416,
    "vit_small_patch16_224": 22_050_664,
    "vit_base_patch16_224": 86_567_656,
    "tnt_s_patch16_224": 23_768_584,
    "tnt_b_patch16_224": 65_428_680,
}


# ----------------------------------------------------------------------------------------------------------
# ResNet (torchvision v1.5: the stride sits on the 3x3 conv; projection shortcut downsample.0/.1)

class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + shortcut)


class ResNet(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        w = cfg.base_width
        if cfg.stem == "imagenet":
            self.conv1 = nn.Conv2d(cfg.in_chans, w, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            self.conv1 = nn.Conv2d(cfg.in_chans, w, 3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        inplanes = w
        for s, n in enumerate(cfg.layers):
            planes = w * 2**s
            blocks = []
            for b in range(n):
                blocks.append(Bottleneck(inplanes, planes, stride=2 if (s > 0 and b == 0) else 1))
                inplanes = planes * Bottleneck.expansion
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, cfg.num_classes)

    def forward_features(self, x):  # x is (B, C, H, W) -> (B, 32w, H', W')
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, x):
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


# ----------------------------------------------------------------------------------------------------------
# ViT (timm VisionTransformer: pre-norm blocks, exact GELU, cls-token pooling)

class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact (erf)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def _attend(q, k, v):  # q, k, v are (B, heads, N, hd) -> (B, N, heads * hd)
    a = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    y = a.softmax(dim=-1) @ v
    return y.transpose(1, 2).flatten(2)


class ViTAttention(nn.Module):
    def __init__(self, dim, heads, qkv_bias):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):  # x is (B, N, D); qkv columns are [q | k | v], each head-major
        B, N, D = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(_attend(q, k, v))


class ViTBlock(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.embed_dim, eps=cfg.ln_eps)
        self.attn = ViTAttention(cfg.embed_dim, cfg.num_heads, cfg.qkv_bias)
        self.norm2 = nn.LayerNorm(cfg.embed_dim, eps=cfg.ln_eps)
        self.mlp = Mlp(cfg.embed_dim, cfg.mlp_dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.proj = nn.Conv2d(cfg.in_chans, cfg.embed_dim, cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x):  # x is (B, C, H, W) -> (B, N, D), patches row-major
        return self.proj(x).flatten(2).transpose(1, 2)


def sincos_2d_table(embed_dim: int, grid: int) -> np.ndarray:
    """MAE's get_2d_sincos_pos_embed(embed_dim, grid, cls_token=True), float64, shape (grid*grid + 1, D).
    Row 0 (cls) is zero. For the patch at column x, row y (row index 1 + y*grid + x): the first D/2 values
    encode x, the last D/2 encode y (MAE meshgrids (w, h), so its 'emb_h' half is really the column); each
    half is [sin(p * omega), cos(p * omega)] with omega_k = 10000^(-k / (D/4)), k < D/4."""
    quarter = embed_dim // 4
    omega = 1.0 / 10000.0 ** (np.arange(quarter, dtype=np.float64) / quarter)
    ys, xs = np.meshgrid(np.arange(grid, dtype=np.float64), np.arange(grid, dtype=np.float64), indexing="ij")

    def enc(p):  # p is (M,) -> (M, D/2)
        out = np.outer(p, omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    table = np.concatenate([enc(xs.reshape(-1)), enc(ys.reshape(-1))], axis=1)
    return np.concatenate([np.zeros((1, embed_dim)), table], axis=0)


class VisionTransformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        D, G = cfg.embed_dim, cfg.grid
        self.pos_kind = cfg.pos_embed
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        if cfg.pos_embed == "learned_1d":
            self.pos_embed = nn.Parameter(torch.zeros(1, G * G + 1, D))
        elif cfg.pos_embed == "learned_2d":  # ViT paper D.4: concat(X[x], Y[y]); the cls token has its own row
            self.pos_embed_x = nn.Parameter(torch.zeros(1, G, D // 2))
            self.pos_embed_y = nn.Parameter(torch.zeros(1, G, D // 2))
            self.pos_embed_cls = nn.Parameter(torch.zeros(1, 1, D))
        elif cfg.pos_embed == "sincos_2d":
            # Fixed: not a parameter, not in the state_dict. Kept in float64 and cast in forward so that a
            # model run in double gets the exact table.
            table = torch.from_numpy(sincos_2d_table(D, G)).unsqueeze(0)
            self.register_buffer("pos_embed", table, persistent=False)
        self.pos_drop = nn.Dropout(0.0)
        self.blocks = nn.ModuleList(ViTBlock(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(D, eps=cfg.ln_eps)
        self.head = nn.Linear(D, cfg.num_classes)

    def position_table(self):  # (1, N+1, D) or None
        if self.pos_kind in ("learned_1d", "sincos_2d"):
            return self.pos_embed
        if self.pos_kind == "learned_2d":
            G, half = self.pos_embed_x.shape[1], self.pos_embed_x.shape[2]
            x_part = self.pos_embed_x[:, None, :, :].expand(1, G, G, half)  # [.., y, x] = X[x]
            y_part = self.pos_embed_y[:, :, None, :].expand(1, G, G, half)  # [.., y, x] = Y[y]
            grid = torch.cat([x_part, y_part], dim=-1).reshape(1, G * G, 2 * half)
            return torch.cat([self.pos_embed_cls, grid], dim=1)
        return None

    def forward_features(self, x):  # x is (B, C, H, W) -> (B, N+1, D), final norm applied
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        pos = self.position_table()
        if pos is not None:
            x = x + pos.to(x.dtype)
        x = self.pos_drop(x)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward_head(self, x):  # cls-token pooling
        return self.head(x[:, 0])

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


# ----------------------------------------------------------------------------------------------------------
# TNT (timm non-legacy = the official code: the word conv runs on each patch separately; per-block
# projection LN(m*c) -> Linear without bias -> LN(d); both attentions split qk and v, no qkv bias)

class TntAttention(nn.Module):
    def __init__(self, dim, heads, qkv_bias):
        super().__init__()
        self.heads = heads
        self.qk = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.v = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):  # x is (B, N, D)
        B, N, D = x.shape
        hd = D // self.heads
        q, k = self.qk(x).reshape(B, N, 2, self.heads, hd).permute(2, 0, 3, 1, 4)
        v = self.v(x).reshape(B, N, self.heads, hd).transpose(1, 2)
        return self.proj(_attend(q, k, v))


class TntBlock(nn.Module):
    def __init__(self, cfg: ModelConfig, num_words: int):
        super().__init__()
        c, d, eps = cfg.inner_dim, cfg.embed_dim, cfg.ln_eps
        self.norm_in = nn.LayerNorm(c, eps=eps)
        self.attn_in = TntAttention(c, cfg.inner_heads, cfg.qkv_bias)
        self.norm_mlp_in = nn.LayerNorm(c, eps=eps)
        self.mlp_in = Mlp(c, int(c * cfg.inner_mlp_ratio))
        self.norm1_proj = nn.LayerNorm(num_words * c, eps=eps)
        self.proj = nn.Linear(num_words * c, d, bias=False)
        self.norm2_proj = nn.LayerNorm(d, eps=eps)
        self.norm_out = nn.LayerNorm(d, eps=eps)
        self.attn_out = TntAttention(d, cfg.num_heads, cfg.qkv_bias)
        self.norm_mlp = nn.LayerNorm(d, eps=eps)
        self.mlp = Mlp(d, int(d * cfg.mlp_ratio))

    def forward(self, words, patches):  # words is (B*N, m, c), patches is (B, N+1, d)
        words = words + self.attn_in(self.norm_in(words))
        words = words + self.mlp_in(self.norm_mlp_in(words))
        B, N1, _ = patches.shape
        flat = words.reshape(B, N1 - 1, -1)  # word-major: m words of c channels per patch
        patches = torch.cat([patches[:, :1], patches[:, 1:] + self.norm2_proj(self.proj(self.norm1_proj(flat)))],
                            dim=1)
        patches = patches + self.attn_out(self.norm_out(patches))
        patches = patches + self.mlp(self.norm_mlp(patches))
        return words, patches


class PixelEmbed(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.p = cfg.patch_size
        self.proj = nn.Conv2d(cfg.in_chans, cfg.inner_dim, cfg.word_kernel, stride=cfg.word_stride,
                              padding=cfg.word_padding)

    def forward(self, x, pixel_pos):  # x is (B, C, H, W) -> (B*N, m, c)
        B, C, H, W = x.shape
        p = self.p
        # Cut into patches (row-major), each an independent (C, p, p) image for the word conv.
        patches = x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5).reshape(-1, C, p, p)
        w = self.proj(patches)  # (B*N, c, s, s)
        if pixel_pos is not None:
            w = w + pixel_pos
        return w.flatten(2).transpose(1, 2)


class TNT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c, d, N = cfg.inner_dim, cfg.embed_dim, cfg.grid**2
        s = cfg.words_per_side
        self.num_patches = N
        self.pixel_embed = PixelEmbed(cfg)
        self.norm1_proj = nn.LayerNorm(s * s * c, eps=cfg.ln_eps)
        self.proj = nn.Linear(s * s * c, d)
        self.norm2_proj = nn.LayerNorm(d, eps=cfg.ln_eps)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.patch_pos = nn.Parameter(torch.zeros(1, N + 1, d)) if cfg.tnt_pos in ("outer", "both") else None
        self.pixel_pos = nn.Parameter(torch.zeros(1, c, s, s)) if cfg.tnt_pos in ("inner", "both") else None
        self.pos_drop = nn.Dropout(0.0)
        self.blocks = nn.ModuleList(TntBlock(cfg, s * s) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(d, eps=cfg.ln_eps)
        self.head = nn.Linear(d, cfg.num_classes)

    def forward_features(self, x):  # x is (B, C, H, W) -> (B, N+1, d), final norm applied
        B = x.shape[0]
        words = self.pixel_embed(x, self.pixel_pos)
        patches = self.norm2_proj(self.proj(self.norm1_proj(words.reshape(B, self.num_patches, -1))))
        patches = torch.cat([self.cls_token.expand(B, -1, -1), patches], dim=1)
        if self.patch_pos is not None:
            patches = patches + self.patch_pos
        patches = self.pos_drop(patches)
        for blk in self.blocks:
            words, patches = blk(words, patches)
        return self.norm(patches)

    def forward_head(self, x):
        return self.head(x[:, 0])

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


# ----------------------------------------------------------------------------------------------------------

def build(cfg: ModelConfig) -> nn.Module:
    """The model for `cfg` (float32, parameters zero / BN defaults: load weights before use)."""
    return {"resnet": ResNet, "vit": VisionTransformer, "tnt": TNT}[cfg.family](cfg)


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, cfg: ModelConfig) -> int:
    """Multiply-adds of one forward for one image: convs, linears and the two attention matmuls
    (normalisations, activations, softmax, pooling and additions not counted)."""
    total = [0]

    def hook(mod, inputs, out):
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            total[0] += out.numel() * k
        elif isinstance(mod, nn.Linear):
            total[0] += out.numel() * mod.in_features
        else:  # attention: q @ k^T and attn @ v, each N*N*D per sequence
            b, n, dim = inputs[0].shape
            total[0] += 2 * b * n * n * dim

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear, ViTAttention, TntAttention))]
    with torch.no_grad():
        model(torch.zeros(1, cfg.in_chans, cfg.img_size, cfg.img_size))
    for h in handles:
        h.remove()
    return total[0]


def _check_resnet50_matches_torchvision():
    import torchvision

    ours = build(PRESETS["resnet50"]).state_dict()
    ref = torchvision.models.resnet50().state_dict()
    assert list(ours.keys()) == list(ref.keys()), "resnet50 state_dict keys differ from torchvision"
    for k in ref:
        assert ours[k].shape == ref[k].shape, f"resnet50 {k}: {tuple(ours[k].shape)} vs {tuple(ref[k].shape)}"


if __name__ == "__main__":
    _check_resnet50_matches_torchvision()
    print(f"{'preset':24s} {'params':>12s} {'GMACs':>8s}")
    for name, cfg in PRESETS.items():
        model = build(cfg).eval()
        n = num_params(model)
        print(f"{name:24s} {n:12,d} {count_macs(model, cfg) / 1e9:8.3f}")
        if name in EXPECTED_PARAMS:
            assert n == EXPECTED_PARAMS[name], f"{name}: {n:,} parameters, expected {EXPECTED_PARAMS[name]:,}"
    print("resnet50 keys and shapes == torchvision.models.resnet50; published counts match")
