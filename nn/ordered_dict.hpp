// OrderedDict: string keys to values in insertion order, as libtorch's. What named_parameters(),
// state_dict() and ModuleDict return: iteration follows registration order, lookup is by name.
#pragma once

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace strata::nn {

template <class Value>
class OrderedDict {
 public:
  using Item = std::pair<std::string, Value>;

  // Appends key -> value; a key already present is an error.
  Value& insert(std::string key, Value value) {
    STRATA_CHECK(!contains(key), "OrderedDict::insert: the key '", key, "' is already present");
    index_.emplace(key, items_.size());
    items_.emplace_back(std::move(key), std::move(value));
    return items_.back().second;
  }

  bool contains(const std::string& key) const { return index_.count(key) != 0; }
  // The value of key, or null when absent.
  const Value* find(const std::string& key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &items_[it->second].second;
  }
  const Value& at(const std::string& key) const {
    const Value* value = find(key);
    STRATA_CHECK(value, "OrderedDict::at: no key '", key, "'");
    return *value;
  }
  const Value& operator[](const std::string& key) const { return at(key); }

  std::vector<std::string> keys() const {
    std::vector<std::string> keys;
    for (const Item& item : items_) keys.push_back(item.first);
    return keys;
  }
  std::vector<Value> values() const {
    std::vector<Value> values;
    for (const Item& item : items_) values.push_back(item.second);
    return values;
  }
  const std::vector<Item>& items() const { return items_; }

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<Item> items_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace strata::nn
