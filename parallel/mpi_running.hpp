// What dist.cpp tells the rest of parallel/ (internal; the public headers keep MPI out): whether
// MPI is usable now, and the mark a process group leaves when it is abandoned.
#pragma once

#include <string>

namespace strata::dist::detail {

bool mpi_running();

// A process group was destroyed while an exception unwound, so it was abandoned with its calls
// (the other ranks may be waiting in one of them for this rank). finalize() then cannot take part
// in the collective teardown: it ends the job through dist::abort, naming `what`.
void mark_abandoned(const std::string& what);

}  // namespace strata::dist::detail
