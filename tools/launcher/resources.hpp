// Which slots of which hosts a job runs on, chosen DeepSpeed's way from a hostfile (or the local
// machine) and --include / --exclude / --num_nodes / --num_gpus.
//
//   --include "worker-1:0,1@worker-2"  slots 0 and 1 of worker-1, and every slot of worker-2
//   --exclude "worker-1:0@worker-3"    every slot but worker-1's slot 0 and all of worker-3
//   --num_nodes 2 --num_gpus 4         the first 2 hosts, the first 4 slots of each
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "launcher/hostfile.hpp"

namespace strata::launch {

struct Selection {
  std::string include, exclude;  // DeepSpeed's `host[:slot,slot]@host...` syntax
  int64_t num_nodes = -1;        // -1: every host
  int64_t num_gpus = -1;         // -1: every slot of each host
};

// A host and the slots (GPU indices on it, or CPU rank places) the job uses there, ascending.
struct HostSlots {
  std::string name;
  std::vector<int64_t> slots;
};

// The hosts in hostfile order with their chosen slots. Errors name the flag and what is wrong:
// an unknown host or slot, include together with exclude (or with num_nodes/num_gpus), more
// nodes or GPUs than the hosts have, or a selection that leaves nothing.
std::vector<HostSlots> select_resources(const std::vector<Host>& hosts, const Selection& selection);

// The local machine as a one-host "hostfile" with `gpus` slots (the visible CUDA devices).
Host local_host(int64_t gpus, const char* cuda_visible_devices);

// Whether `host` names this machine (localhost, 127.0.0.1 or `hostname`).
bool is_local_host(const std::string& host, const std::string& hostname);

// A hostfile's line for this machine, when CUDA_VISIBLE_DEVICES is set: its slots index the
// visible devices, so it may not declare more slots than there are entries. The error names the
// line, its slots and the variable.
void check_local_slots(const std::vector<Host>& hosts, const std::string& hostname,
                       const char* cuda_visible_devices);

// The device a slot of the local machine is: the slot-th entry of CUDA_VISIBLE_DEVICES when it
// is set ("2,3": slot 1 is device 3), else the slot number.
std::string local_device(int64_t slot, const char* cuda_visible_devices);

}  // namespace strata::launch
