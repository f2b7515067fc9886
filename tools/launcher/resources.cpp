// Resource selection: DeepSpeed's include/exclude filters and the num_nodes/num_gpus limits.
#include "launcher/resources.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "core/error.hpp"

namespace strata::launch {

namespace {

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string::npos ? end : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

const Host& find_host(const std::vector<Host>& hosts, const std::string& name,
                      const std::string& flag) {
  for (const Host& host : hosts) {
    if (host.name == name) return host;
  }
  std::string known;
  for (const Host& host : hosts) known += (known.empty() ? "" : ", ") + host.name;
  fail(flag, ": host \"", name, "\" is not one of the hosts (", known, ")");
}

// "worker-1:0,1@worker-2" -> {worker-1: {0, 1}, worker-2: {}}; an empty set means every slot.
std::map<std::string, std::set<int64_t>> parse_filter(const std::vector<Host>& hosts,
                                                      const std::string& text,
                                                      const std::string& flag) {
  std::map<std::string, std::set<int64_t>> filter;
  if (text.empty()) return filter;
  for (const std::string& part : split(text, '@')) {
    const size_t colon = part.find(':');
    const std::string name = part.substr(0, colon);
    STRATA_CHECK(!name.empty(), flag, " \"", text,
                 "\": expected host[:slot,slot,...] entries joined by @, got \"", part, "\"");
    const Host& host = find_host(hosts, name, flag);
    std::set<int64_t>& slots = filter[name];
    if (colon == std::string::npos) continue;
    for (const std::string& item : split(part.substr(colon + 1), ',')) {
      int64_t slot = -1;
      auto [ptr, error] = std::from_chars(item.data(), item.data() + item.size(), slot);
      STRATA_CHECK(error == std::errc() && ptr == item.data() + item.size() && slot >= 0, flag,
                   " \"", text, "\": slot \"", item, "\" of host ", name,
                   " is not a non-negative integer");
      STRATA_CHECK(slot < host.slots, flag, " \"", text, "\": host ", name, " has ", host.slots,
                   " slots (", host.origin, "), so slot ", slot, " does not exist");
      slots.insert(slot);
    }
  }
  return filter;
}

std::vector<int64_t> first_slots(int64_t count) {
  std::vector<int64_t> slots(count);
  for (int64_t i = 0; i < count; ++i) slots[i] = i;
  return slots;
}

}  // namespace

std::vector<HostSlots> select_resources(const std::vector<Host>& hosts,
                                        const Selection& selection) {
  const bool filtered = !selection.include.empty() || !selection.exclude.empty();
  STRATA_CHECK(selection.include.empty() || selection.exclude.empty(),
               "--include and --exclude cannot be used together");
  STRATA_CHECK(!filtered || (selection.num_nodes < 0 && selection.num_gpus < 0),
               "--num_nodes/--num_gpus cannot be used with --include/--exclude (as in DeepSpeed): "
               "the filter already names the slots");
  std::vector<HostSlots> chosen;
  if (!selection.include.empty()) {
    auto filter = parse_filter(hosts, selection.include, "--include");
    for (const Host& host : hosts) {
      auto it = filter.find(host.name);
      if (it == filter.end()) continue;
      chosen.push_back({host.name, it->second.empty() ? first_slots(host.slots)
                                                      : std::vector<int64_t>(it->second.begin(),
                                                                             it->second.end())});
    }
  } else {
    auto filter = parse_filter(hosts, selection.exclude, "--exclude");
    for (const Host& host : hosts) {
      auto it = filter.find(host.name);
      if (it != filter.end() && it->second.empty()) continue;  // the whole host is excluded
      HostSlots kept{host.name, {}};
      for (int64_t slot = 0; slot < host.slots; ++slot) {
        if (it == filter.end() || !it->second.count(slot)) kept.slots.push_back(slot);
      }
      if (!kept.slots.empty()) chosen.push_back(std::move(kept));
    }
  }
  if (selection.num_nodes >= 0) {
    STRATA_CHECK(selection.num_nodes > 0 && selection.num_nodes <= int64_t(chosen.size()),
                 "--num_nodes ", selection.num_nodes, " asks for ",
                 selection.num_nodes > 0 ? "more nodes than the " : "no nodes; there are ",
                 chosen.size(), " host(s) available");
    chosen.resize(selection.num_nodes);
  }
  if (selection.num_gpus >= 0) {
    for (HostSlots& host : chosen) {
      STRATA_CHECK(selection.num_gpus > 0 && selection.num_gpus <= int64_t(host.slots.size()),
                   "--num_gpus ", selection.num_gpus, " asks for ",
                   selection.num_gpus > 0 ? "more" : "fewer than one", " GPUs per node, but host ",
                   host.name, " has ", host.slots.size(), " slots (",
                   find_host(hosts, host.name, "--num_gpus").origin, ")");
      host.slots.resize(selection.num_gpus);
    }
  }
  STRATA_CHECK(!chosen.empty(), "--exclude \"", selection.exclude, "\" leaves no slot to run on");
  return chosen;
}

Host local_host(int64_t gpus, const char* cuda_visible_devices) {
  std::string origin = "the visible CUDA devices of this machine";
  if (cuda_visible_devices) origin += std::string(", CUDA_VISIBLE_DEVICES=") + cuda_visible_devices;
  return {"localhost", gpus, origin};
}

bool is_local_host(const std::string& host, const std::string& hostname) {
  return host == "localhost" || host == "127.0.0.1" || host == hostname;
}

void check_local_slots(const std::vector<Host>& hosts, const std::string& hostname,
                       const char* cuda_visible_devices) {
  if (!cuda_visible_devices) return;
  const std::string visible = cuda_visible_devices;
  const int64_t devices = visible.empty() ? 0 : int64_t(split(visible, ',').size());
  for (const Host& host : hosts) {
    STRATA_CHECK(!is_local_host(host.name, hostname) || host.slots <= devices, "hostfile ",
                 host.origin, ": host ", host.name, " (this machine) has slots=", host.slots,
                 ", but CUDA_VISIBLE_DEVICES=", visible, " makes ", devices,
                 " GPU(s) visible here; lower its slots or widen CUDA_VISIBLE_DEVICES");
  }
}

std::string local_device(int64_t slot, const char* cuda_visible_devices) {
  if (!cuda_visible_devices) return std::to_string(slot);
  std::vector<std::string> devices = split(cuda_visible_devices, ',');
  STRATA_CHECK(slot < int64_t(devices.size()), "slot ", slot,
               " is not in CUDA_VISIBLE_DEVICES=", cuda_visible_devices);
  return devices[slot];
}

}  // namespace strata::launch
