#!/usr/bin/env python3
"""PyTorch's side of strata_bench_gpu_train: GPT-2 124M training throughput over the same
micro-batch sweep, eager and torch.compile, printing JSON lines with the same fields as the Strata
benchmark (bench "gpu_train", library "torch") so that one script compares the two.

The model is GPT-2 written out plainly (nanoGPT's layout): token and position embeddings, 12
pre-norm blocks of causal self-attention through F.scaled_dot_product_attention(is_causal=True) and
a GELU (tanh) MLP, a final LayerNorm, and an LM head tied to the token embedding; vocab 50257 padded to
50304, context 1024, width 768, 12 heads, GPT-2's initialisation.

Precision, chosen to match Strata: the model's weights are bf16 and the optimizer keeps f32 master
copies (--precision bf16-master, the default): AdamW(fused=True) steps f32 masters whose
gradients are the bf16 gradients upcast, and the bf16 weights receive the masters rounded. The
alternative --precision autocast (nanoGPT's and llm.c's PyTorch reference: f32 weights,
torch.autocast to bf16, AdamW(fused=True) on the f32 weights) is there to compare.

Per size: tokens_per_s from the median of the timed steps (each timed by CUDA events; waiting for
the end event is the step's only synchronisation), mfu = flops_per_token * tokens_per_s / 989e12
with flops_per_token = 6 N + 12 L C T (N: parameters less wpe), and
torch.cuda.max_memory_allocated / max_memory_reserved since the model was built.

Runs where PyTorch and a GPU are; --device cpu --tiny is a smoke test of the script itself on the
CPU (torch.compile, scaled_dot_product_attention and fused AdamW are used where the installed
PyTorch has them, and every line says which were).
"""

import argparse
import gc
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PEAK_FLOPS = 989e12  # H100 SXM dense bf16, as strata_bench_gpu_train
FLOPS_FORMULA = "6*N+12*L*C*T per token, N = parameters less wpe"


class Config:
    def __init__(self, tiny):
        if tiny:
            self.vocab, self.tokens, self.block, self.layers, self.heads, self.width = (
                512, 500, 128, 2, 2, 64)
        else:
            self.vocab, self.tokens, self.block, self.layers, self.heads, self.width = (
                50304, 50257, 1024, 12, 12, 768)


def has_sdpa():
    return hasattr(F, "scaled_dot_product_attention")


class CausalSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads = c.heads
        self.c_attn = nn.Linear(c.width, 3 * c.width)
        self.c_proj = nn.Linear(c.width, c.width)
        self.register_buffer("mask", torch.ones(c.block, c.block, dtype=torch.bool).tril(),
                             persistent=False)

    def forward(self, x):  # x [B, T, C]
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        if has_sdpa():
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [B, H, T, hs]
        else:  # PyTorch < 2.0 (the CPU smoke test on Debian's 1.13): the plain masked softmax
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.size(-1))
            scores = scores.masked_fill(~self.mask[:T, :T], float("-inf"))
            y = F.softmax(scores, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c.width, 4 * c.width)
        self.c_proj = nn.Linear(4 * c.width, c.width)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c.width)
        self.attn = CausalSelfAttention(c)
        self.ln_2 = nn.LayerNorm(c.width)
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c.vocab, c.width)
        self.wpe = nn.Embedding(c.block, c.width)
        self.h = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.ln_f = nn.LayerNorm(c.width)
        self.lm_head = nn.Linear(c.width, c.vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: one parameter
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * c.layers))
            elif name.endswith(".bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, ids):  # ids [B, T] -> logits [B, T, V]
        pos = torch.arange(ids.size(1), device=ids.device)
        x = self.wte(ids) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def make_adamw(params, device):
    # fused=True where this PyTorch has it for the device (CUDA; the CPU from 2.4 on).
    options = dict(lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    try:
        return torch.optim.AdamW(params, fused=True, **options), True
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(params, **options), False


def copy_all(dst, src):
    if hasattr(torch, "_foreach_copy_"):
        torch._foreach_copy_(dst, src)
    else:
        for d, s in zip(dst, src):
            d.copy_(s)


class MasterAdamW:
    """AdamW on f32 master copies of bf16 weights: what Strata's optim::AdamW does for bf16."""

    def __init__(self, params, device):
        self.params = list(params)
        self.masters = [p.detach().float().requires_grad_() for p in self.params]
        for m in self.masters:
            m.grad = torch.empty_like(m)
        self.optimizer, self.fused = make_adamw(self.masters, device)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        copy_all([m.grad for m in self.masters], [p.grad for p in self.params])
        self.optimizer.step()
        copy_all(self.params, self.masters)  # rounded to nearest-even


class PlainAdamW:
    """AdamW on the f32 weights themselves (--precision autocast)."""

    def __init__(self, params, device):
        self.optimizer, self.fused = make_adamw(list(params), device)

    def zero_grad(self):
        self.optimizer.zero_grad(set_to_none=True)

    def step(self):
        self.optimizer.step()


class Timer:
    """CUDA events around a step (the end event's wait is the only synchronisation); host clock
    on the CPU."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"
        if self.cuda:
            self.begin = torch.cuda.Event(enable_timing=True)
            self.end = torch.cuda.Event(enable_timing=True)

    def start(self):
        if self.cuda:
            self.begin.record()
        else:
            self.t0 = time.perf_counter()

    def stop(self):
        if not self.cuda:
            return time.perf_counter() - self.t0
        self.end.record()
        self.end.synchronize()
        return 1e-3 * self.begin.elapsed_time(self.end)


def base_line(args, mode, batch, context):
    return {
        "bench": "gpu_train",
        "library": "torch",
        "mode": mode,
        "device": str(args.device),
        "model": "tiny" if args.tiny else "gpt2-124M",
        "precision": ("bf16 weights, f32 master weights in AdamW" if args.precision == "bf16-master"
                      else "f32 weights, bf16 autocast"),
        "batch": batch,
        "context": context,
        "tokens_per_step": batch * context,
    }


def emit(line):
    print(json.dumps(line), flush=True)


def measure(args, mode, batch):
    c = Config(args.tiny)
    device = args.device
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    torch.manual_seed(1337)
    model = GPT(c).to(device)
    if args.precision == "bf16-master":
        model = model.to(torch.bfloat16)
        optimizer = MasterAdamW(model.parameters(), device)
    else:
        optimizer = PlainAdamW(model.parameters(), device)
    run = torch.compile(model, dynamic=False) if mode == "compile" else model

    gen = torch.Generator().manual_seed(7)
    ids = torch.randint(0, c.tokens, (batch, c.block + 1), generator=gen).to(device)
    inputs, targets = ids[:, :-1].contiguous(), ids[:, 1:].contiguous().view(-1)
    autocast = args.precision == "autocast"

    def step():
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = run(inputs)  # [B, T, V]
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(args.warmup):  # the first compiles under torch.compile
        loss = step()
    timer, seconds = Timer(device), []
    for _ in range(args.steps):
        timer.start()
        loss = step()
        seconds.append(timer.stop())

    step_seconds = statistics.median(seconds)
    tokens_per_s = batch * c.block / step_seconds
    n_params = sum(p.numel() for p in model.parameters())  # the tied weight counted once
    n_flops_params = n_params - model.wpe.weight.numel()
    flops_per_token = 6 * n_flops_params + 12 * c.layers * c.width * c.block
    cuda = device.type == "cuda"
    line = base_line(args, mode, batch, c.block)
    line.update({
        "status": "ok",
        "warmup_steps": args.warmup,
        "timed_steps": args.steps,
        "step_seconds": step_seconds,
        "tokens_per_s": tokens_per_s,
        "n_params": n_params,
        "n_params_flops": n_flops_params,
        "flops_per_token": flops_per_token,
        "flops_formula": FLOPS_FORMULA,
        "peak_flops": PEAK_FLOPS,
        "mfu": flops_per_token * tokens_per_s / PEAK_FLOPS,
        "peak_allocated_bytes": torch.cuda.max_memory_allocated(device) if cuda else None,
        "peak_reserved_bytes": torch.cuda.max_memory_reserved(device) if cuda else None,
        "adamw_fused": optimizer.fused,
        "attention": "scaled_dot_product_attention" if has_sdpa() else "masked softmax",
        "torch_version": torch.__version__,
        "loss": loss.item(),
    })
    emit(line)
    return tokens_per_s


def is_out_of_memory(error):
    oom = getattr(torch.cuda, "OutOfMemoryError", ())
    return (oom and isinstance(error, oom)) or "out of memory" in str(error).lower()


def main():
    parser = argparse.ArgumentParser(
        description="GPT-2 124M training throughput in PyTorch, the reference for "
                    "strata_bench_gpu_train (same JSON fields).")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--tiny", action="store_true",
                        help="vocab 512, context 128, 2 layers, 2 heads, width 64 (smoke test)")
    parser.add_argument("--batches", default=None,
                        help="micro-batch sizes, comma-separated (default 4,8,16,32; tiny 2,4)")
    parser.add_argument("--modes", default="eager,compile",
                        help="eager and/or compile (torch.compile), comma-separated")
    parser.add_argument("--precision", default="bf16-master", choices=["bf16-master", "autocast"],
                        help="bf16 weights with f32 masters (default, as Strata) or f32 weights "
                             "under bf16 autocast")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    args = parser.parse_args()
    args.device = torch.device(args.device)
    if args.device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("torch_gpt2_reference.py: no CUDA device is visible (use --device cpu --tiny)")
    batches = [int(b) for b in (args.batches or ("2,4" if args.tiny else "4,8,16,32")).split(",")]
    context = Config(args.tiny).block

    device_line = {"bench": "gpu_train", "library": "torch", "name": "device",
                   "device": str(args.device), "torch_version": torch.__version__,
                   "peak_bf16_flops_for_mfu": PEAK_FLOPS}
    if args.device.type == "cuda":
        p = torch.cuda.get_device_properties(args.device)
        device_line.update({"gpu": p.name, "sm_count": p.multi_processor_count,
                            "memory_bytes": p.total_memory})
    emit(device_line)

    status = 0
    for mode in args.modes.split(","):
        if mode == "compile" and not hasattr(torch, "compile"):
            line = base_line(args, mode, 0, context)
            line.update({"status": "unavailable",
                         "error": f"torch.compile needs PyTorch 2 (this is {torch.__version__})"})
            emit(line)
            continue
        best = None
        for batch in batches:
            try:
                tokens_per_s = measure(args, mode, batch)
                if best is None or tokens_per_s > best[1]:
                    best = (batch, tokens_per_s)
            except Exception as error:  # out of memory ends the sweep; anything else is a bug
                line = base_line(args, mode, batch, context)
                oom = is_out_of_memory(error)
                line.update({"status": "out_of_memory" if oom else "error",
                             "error": f"{type(error).__name__}: {error}"[:2000]})
                emit(line)
                if not oom:
                    status = 1
                break
            finally:
                gc.collect()
                if args.device.type == "cuda":
                    torch.cuda.empty_cache()
        if mode == "compile" and hasattr(torch, "_dynamo"):
            torch._dynamo.reset()
        if best:
            emit({"bench": "gpu_train_best", "library": "torch", "mode": mode,
                  "device": str(args.device), "batch": best[0], "tokens_per_s": best[1]})
    sys.exit(status)


if __name__ == "__main__":
    main()
