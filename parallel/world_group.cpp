// create_world_group (parallel/world_group.hpp): the world's group on the chosen backend.
#include "parallel/world_group.hpp"

#include <mpi.h>

#include "core/error.hpp"
#include "parallel/dist.hpp"
#include "parallel/mpi_common.hpp"
#include "parallel/mpi_process_group.hpp"
#if defined(STRATA_HAVE_NCCL)
#include "parallel/nccl_process_group.hpp"
#endif

namespace strata::dist {

std::string_view backend_name(Backend backend) {
  switch (backend) {
    case Backend::automatic: return "automatic";
    case Backend::mpi: return "mpi";
    case Backend::nccl: return "nccl";
  }
  return "?";
}

#if defined(STRATA_HAVE_NCCL)
bool nccl_available() { return true; }
#else
bool nccl_available() { return false; }
#endif

std::shared_ptr<ProcessGroup> create_world_group(Backend backend, Device device) {
  if (backend == Backend::automatic) {
    int nccl_fits = nccl_available() && device.is_cuda() && is_initialized() && world().mpi &&
                    dist::local_size() <= cuda_device_count();
    // Every rank must pick the same backend, though nodes may differ in GPUs and ranks.
    if (is_initialized() && world().mpi)
      detail::mpi_check(
          MPI_Allreduce(MPI_IN_PLACE, &nccl_fits, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD),
          "automatic", "create_world_group");
    backend = nccl_fits ? Backend::nccl : Backend::mpi;
  }
  if (backend == Backend::mpi) return MpiProcessGroup::create_world();
#if defined(STRATA_HAVE_NCCL)
  return NcclProcessGroup::create_world();
#else
  fail(
      "dist::create_world_group: this Strata build has no NCCL process group (it needs the CUDA "
      "backend and NCCL at configure time: set STRATA_NCCL_ROOT, or -DSTRATA_NCCL=ON to make its "
      "absence an error); use Backend::mpi, which stages CUDA tensors through host memory");
#endif
}

}  // namespace strata::dist
