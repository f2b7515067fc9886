// Strata's public API in one include.
#pragma once

#include "core/allocator.hpp"    // memory_stats, empty_cache
#include "core/attention.hpp"    // flash_attention: fused attention, forward and backward
#include "core/conv.hpp"         // conv2d, max_pool2d, avg_pool2d
#include "core/cuda_memory.hpp"  // cuda::set_device, device_for_local_rank, memory_stats, empty_cache
#include "core/elementwise.hpp"  // unary/binary ops, comparisons, where
#include "core/factories.hpp"    // zeros, ones, arange, rand, randn, from_vector, ...
#include "core/indexing.hpp"     // cat, stack, split, gather, scatter, topk, multinomial
#include "core/linalg.hpp"       // matmul, bmm, linear, linear_gelu, set_float32_matmul_precision
#include "core/nn_ops.hpp"       // softmax, layer_norm, rms_norm, cross_entropy, embedding, dropout
#include "core/parallel.hpp"     // set_num_threads
#include "core/random.hpp"       // Generator, manual_seed
#include "core/reduce.hpp"       // sum, mean, amax, var, norm, max, argmax, count_nonfinite
#include "core/tensor.hpp"       // Tensor

#include "autograd/checkpoint.hpp"   // activation checkpointing
#include "autograd/engine.hpp"       // backward, tensor and gradient-ready hooks
#include "autograd/function.hpp"     // user-defined differentiable functions
#include "autograd/gradcheck.hpp"    // gradients against finite differences
#include "core/autograd_record.hpp"  // NoGradGuard, EnableGradGuard, the autograd vocabulary

#include "io/checkpoint_reader.hpp"    // CheckpointReader: reads and verifies a checkpoint
#include "io/checkpoint_writer.hpp"    // CheckpointWriter: saves a checkpoint tag atomically
#include "io/command_line.hpp"         // CommandLine: program flags and positional arguments
#include "io/config.hpp"               // Config, load_config: the DeepSpeed-style training config
#include "io/config_keys.hpp"          // config_keys: every config key's type, default and status
#include "io/data_loader.hpp"          // DataLoader: batches, prefetch thread, resumable position
#include "io/dataset.hpp"              // Dataset, Example
#include "io/distributed_sampler.hpp"  // DistributedSampler: an epoch's indices per rank
#include "io/fashion_mnist.hpp"        // load_fashion_mnist
#include "io/idx.hpp"                  // read_idx
#include "io/loader_state.hpp"         // LoaderState: a data loader's position, as JSON
#include "io/metrics_log.hpp"     // MetricsLog, read_metrics: JSON Lines/CSV of training metrics
#include "io/plot_png.hpp"        // write_line_plot_png, plot_metrics_png
#include "io/progress.hpp"        // Progress: the step/loss/throughput/ETA line
#include "io/safetensors.hpp"     // save_safetensors, load_safetensors
#include "io/tensor_dataset.hpp"  // TensorDataset: examples as rows of two tensors
#include "io/text_dataset.hpp"    // read_text_directory, read_fortunes, split_documents, bytes
#include "io/token_file.hpp"      // read_token_file, write_token_file (llm.c .bin)
#include "io/token_window_dataset.hpp"  // TokenWindowDataset: fixed windows of a token sequence
#include "io/unigram_entropy.hpp"       // unigram_entropy
#include "io/window_sampler.hpp"        // sample_token_windows, gather_token_windows

#include "nn/activation.hpp"                // GELU, ReLU, SiLU, Tanh
#include "nn/container.hpp"                 // Sequential, ModuleList, ModuleDict
#include "nn/conv.hpp"                      // Conv2d, MaxPool2d, AvgPool2d
#include "nn/dropout.hpp"                   // Dropout
#include "nn/embedding.hpp"                 // Embedding
#include "nn/flatten.hpp"                   // Flatten
#include "nn/functional.hpp"                // nn::functional: losses, norms, attention, dropout
#include "nn/init.hpp"                      // nn::init: normal_, uniform_, kaiming_uniform_, ...
#include "nn/linear.hpp"                    // Linear
#include "nn/models/attention.hpp"          // CausalSelfAttention (fused QKV)
#include "nn/models/classifiers.hpp"        // MLPClassifier, CNNClassifier
#include "nn/models/gpt.hpp"                // GPT, GPTConfig
#include "nn/models/transformer_block.hpp"  // TransformerBlock, FeedForward
#include "nn/module.hpp"                    // Module, hooks, state_dict
#include "nn/normalization.hpp"             // LayerNorm, RMSNorm, BatchNorm2d

#include "optim/adagrad.hpp"       // Adagrad
#include "optim/adam.hpp"          // Adam, AdamW
#include "optim/clip_grad.hpp"     // clip_grad_norm_
#include "optim/lamb.hpp"          // LAMB (DeepSpeed's FusedLamb)
#include "optim/loss_scaler.hpp"   // LossScaler, LossScalerOptions (fp16 loss scaling)
#include "optim/lr_schedules.hpp"  // LRRangeTest, OneCycle, WarmupLR, WarmupDecayLR, WarmupCosineLR
#include "optim/optimizer.hpp"     // Optimizer, ParamGroup, GroupOptions, StateDict
#include "optim/sgd.hpp"           // SGD

#include "parallel/dist.hpp"        // dist::init, World, rank, world_size, local_rank, abort
#include "parallel/launch_env.hpp"  // LaunchEnv: the launcher's rank variables (mpirun, srun)
#include "parallel/mpi_process_group.hpp"  // MpiProcessGroup: the collectives over MPI
#include "parallel/process_group.hpp"      // ProcessGroup, Work, ReduceOp: collectives, sub-groups
#include "parallel/topology.hpp"           // Topology: ranks on named axes (pipe, data, model)
#include "parallel/world_group.hpp"        // create_world_group: the job's group on MPI or NCCL

#include "zero/engine.hpp"      // Engine: backward, step, mixed precision, logging
#include "zero/initialize.hpp"  // strata::initialize: config + model -> engine, optimizer, loader
