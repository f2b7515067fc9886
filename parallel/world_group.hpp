// The process group of the whole job, on the backend that suits the tensors it will carry: what
// strata::initialize uses for the engine's data-parallel group.
#pragma once

#include <memory>
#include <string_view>

#include "core/device.hpp"
#include "parallel/process_group.hpp"

namespace strata::dist {

enum class Backend {
  automatic,  // NCCL for CUDA tensors where it can run, else MPI
  mpi,        // MpiProcessGroup: CPU tensors, and CUDA tensors through pinned host staging
  nccl,       // NcclProcessGroup: CUDA tensors of this process's device
};
std::string_view backend_name(Backend backend);

// Whether this build has the NCCL process group (CUDA on and NCCL found at configure time).
bool nccl_available();

// The group of every rank of dist::init's world (collective: every rank calls it). `automatic`
// picks NCCL when `device` is a CUDA device, this build has NCCL, and this node has a GPU for
// each of its ranks (NCCL cannot put two ranks of a communicator on one GPU); otherwise MPI.
// Naming nccl where the build has none is an error.
std::shared_ptr<ProcessGroup> create_world_group(Backend backend = Backend::automatic,
                                                 Device device = Device::cpu());

}  // namespace strata::dist
