// Whether MPI is usable now: initialised and not yet finalised. Internal to parallel/ (the public
// headers keep MPI out); defined in dist.cpp.
#pragma once

namespace strata::dist::detail {

bool mpi_running();

}  // namespace strata::dist::detail
