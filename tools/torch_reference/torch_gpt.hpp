// The GPT-2 architecture of Strata's nn GPT written in libtorch, as an independent reference:
// token + position embeddings, pre-LayerNorm blocks (causal self-attention with a fused QKV
// projection, MLP with tanh-GELU), a final LayerNorm and an LM head tied to the token embedding.
// Parameter names follow nanoGPT (transformer.h.0.attn.c_attn.weight, ...). Used by the gradient
// cross-check and the training benchmark; built only where Debian's libtorch-dev is installed.
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <limits>

namespace strata::torch_reference {

struct TorchGptConfig {
  int64_t vocab_size = 256, block_size = 256, n_layer = 4, n_head = 4, n_embd = 256;
};

namespace F = torch::nn::functional;

struct AttentionImpl : torch::nn::Module {
  AttentionImpl(int64_t n_embd, int64_t heads)
      : n_head(heads),
        c_attn(register_module("c_attn", torch::nn::Linear(n_embd, 3 * n_embd))),
        c_proj(register_module("c_proj", torch::nn::Linear(n_embd, n_embd))) {}

  // x [B, T, C] -> [B, T, C]
  torch::Tensor forward(const torch::Tensor& x) {
    const int64_t B = x.size(0), T = x.size(1), C = x.size(2), hs = C / n_head;
    auto qkv = c_attn(x).split(C, 2);  // 3 x [B, T, C]
    auto heads = [&](const torch::Tensor& t) { return t.view({B, T, n_head, hs}).transpose(1, 2); };
    torch::Tensor q = heads(qkv[0]), k = heads(qkv[1]), v = heads(qkv[2]);  // [B, nh, T, hs]
    torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(double(hs)));
    torch::Tensor future = torch::ones({T, T}, torch::kBool).triu(1);
    scores = scores.masked_fill(future, -std::numeric_limits<float>::infinity());
    torch::Tensor y = torch::matmul(torch::softmax(scores, -1), v);  // [B, nh, T, hs]
    return c_proj(y.transpose(1, 2).contiguous().view({B, T, C}));
  }

  int64_t n_head;
  torch::nn::Linear c_attn, c_proj;
};
TORCH_MODULE(Attention);

struct MlpImpl : torch::nn::Module {
  explicit MlpImpl(int64_t n_embd)
      : c_fc(register_module("c_fc", torch::nn::Linear(n_embd, 4 * n_embd))),
        c_proj(register_module("c_proj", torch::nn::Linear(4 * n_embd, n_embd))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return c_proj(F::gelu(c_fc(x), F::GELUFuncOptions().approximate("tanh")));
  }
  torch::nn::Linear c_fc, c_proj;
};
TORCH_MODULE(Mlp);

struct BlockImpl : torch::nn::Module {
  explicit BlockImpl(const TorchGptConfig& c)
      : ln_1(
            register_module("ln_1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.n_embd})))),
        attn(register_module("attn", Attention(c.n_embd, c.n_head))),
        ln_2(
            register_module("ln_2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.n_embd})))),
        mlp(register_module("mlp", Mlp(c.n_embd))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor h = x + attn(ln_1(x));
    return h + mlp(ln_2(h));
  }
  torch::nn::LayerNorm ln_1;
  Attention attn;
  torch::nn::LayerNorm ln_2;
  Mlp mlp;
};
TORCH_MODULE(Block);

struct TransformerImpl : torch::nn::Module {
  explicit TransformerImpl(const TorchGptConfig& c)
      : wte(register_module("wte", torch::nn::Embedding(c.vocab_size, c.n_embd))),
        wpe(register_module("wpe", torch::nn::Embedding(c.block_size, c.n_embd))),
        h(register_module("h", torch::nn::ModuleList())),
        ln_f(register_module("ln_f",
                             torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.n_embd})))) {
    for (int64_t i = 0; i < c.n_layer; ++i) h->push_back(Block(c));
  }
  torch::nn::Embedding wte, wpe;
  torch::nn::ModuleList h;
  torch::nn::LayerNorm ln_f;
};
TORCH_MODULE(Transformer);

struct TorchGptImpl : torch::nn::Module {
  explicit TorchGptImpl(const TorchGptConfig& c)
      : transformer(register_module("transformer", Transformer(c))) {}

  // ids [B, T] (i64) -> logits [B, T, V]
  torch::Tensor forward(const torch::Tensor& ids) {
    torch::Tensor x = transformer->wte(ids) + transformer->wpe(torch::arange(ids.size(1)));
    for (const auto& block : *transformer->h) x = block->as<Block>()->forward(x);
    return torch::matmul(transformer->ln_f(x), transformer->wte->weight.t());  // tied LM head
  }

  Transformer transformer;
};
TORCH_MODULE(TorchGpt);

}  // namespace strata::torch_reference
