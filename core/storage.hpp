// Storage: a ref-counted block of device memory that tensors (and their views) share.
//
// A block's memory can be freed and allocated again while every handle keeps the block (release /
// allocate, PyTorch's storage resize to 0 and back): ZeRO-3 frees gathered parameters this way, so
// that the tensors autograd saved from them (views of the same block) see the parameters again
// once they are re-gathered for backward. Reading a released block is an error (Tensor::data_ptr).
#pragma once

#include <cstddef>
#include <memory>

#include "core/allocator.hpp"
#include "core/device.hpp"

namespace strata {

class Storage {
 public:
  Storage() = default;
  Storage(size_t nbytes, Device device) : block_(std::make_shared<Block>(nbytes, device)) {}
  // Memory Strata did not allocate (a mapping shared with other processes, ...): `owner` keeps it
  // valid and is released with the last handle; the allocator never sees it.
  Storage(void* data, size_t nbytes, Device device, std::shared_ptr<const void> owner)
      : block_(std::make_shared<Block>(data, nbytes, device, std::move(owner))) {}

  void* data() const { return block_ ? block_->data : nullptr; }
  size_t nbytes() const { return block_ ? block_->nbytes : 0; }
  Device device() const { return block_ ? block_->device : Device::cpu(); }
  bool defined() const { return block_ != nullptr; }
  bool is_same(const Storage& other) const { return block_ == other.block_; }
  // How many handles share this block (tensors and views each hold one).
  long use_count() const { return block_.use_count(); }

  // Frees the block's memory for every handle: data() is null and nbytes() 0 until allocate().
  void release() const {
    block_->free();
    block_->nbytes = 0;
  }
  // Gives a block (released or not) `nbytes` of fresh, uninitialised memory for every handle.
  void allocate(size_t nbytes) const {
    block_->free();
    block_->data = nbytes ? allocator_for(block_->device).allocate(nbytes) : nullptr;
    block_->nbytes = nbytes;
  }

 private:
  struct Block {
    Block(size_t n, Device d)
        : data(n ? allocator_for(d).allocate(n) : nullptr), nbytes(n), device(d) {}
    Block(void* p, size_t n, Device d, std::shared_ptr<const void> o)
        : data(p), nbytes(n), device(d), owner(std::move(o)) {
      allocator_for(device).count_external(nbytes, true);
    }
    ~Block() { free(); }
    // External memory goes back with its owner, never to the allocator (which counted it).
    void free() {
      if (data && owner) allocator_for(device).count_external(nbytes, false);
      if (data && !owner) allocator_for(device).deallocate(data, nbytes);
      owner.reset();
      data = nullptr;
    }
    Block(const Block&) = delete;
    Block& operator=(const Block&) = delete;
    void* data;
    size_t nbytes;
    Device device;
    std::shared_ptr<const void> owner;  // set for external memory
  };
  std::shared_ptr<Block> block_;
};

}  // namespace strata
