// CPU copy-with-conversion and fill, for every pair of dtypes and any strides. Contiguous rows
// convert in vector registers (core/cpu/half_vector.hpp for f32 <-> f16/bf16); large ones are
// written with streaming stores (core/cpu/stream_store.hpp).
#include <cstring>

#include "core/convert.hpp"
#include "core/copy.hpp"
#include "core/cpu/cpu_loop.hpp"
#include "core/cpu/half_vector.hpp"
#include "core/cpu/stream_store.hpp"
#include "core/dtype.hpp"

namespace strata::cpu::STRATA_ISA {

void copy_kernel(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  auto loop = make_strided_loop<2>({&dst, &src});
  std::array<char*, 2> base = {static_cast<char*>(dst.data_ptr()),
                               static_cast<char*>(src.data_ptr())};
  const bool stream = stream_output(static_cast<int64_t>(dst.nbytes()));
  STRATA_DISPATCH_ALL(dst.dtype(), "copy_", [&] {
    using dst_t = scalar_t;
    STRATA_DISPATCH_ALL(src.dtype(), "copy_", [&] {
      using src_t = scalar_t;
      for_each_row<2>(loop, base, [stream](char** ptrs, const int64_t* strides, int64_t n) {
        auto* out = reinterpret_cast<dst_t*>(ptrs[0]);
        const auto* in = reinterpret_cast<const src_t*>(ptrs[1]);
        if (strides[0] == sizeof(dst_t) && strides[1] == sizeof(src_t)) {
          if constexpr (std::is_same_v<dst_t, src_t>) {
            if (stream) {
              // The cast only spells the same type (the discarded branch must compile too).
              stream_copy(out, reinterpret_cast<const dst_t*>(in), n);
            } else {
              std::memcpy(out, in, n * sizeof(dst_t));
            }
          } else {
            write_contiguous(out, n, stream, [in](dst_t* block, int64_t start, int64_t count) {
              convert_contiguous(in + start, block, count);
            });
          }
          return;
        }
        for (int64_t i = 0; i < n; ++i) {
          *reinterpret_cast<dst_t*>(ptrs[0] + i * strides[0]) =
              convert<dst_t>(*reinterpret_cast<const src_t*>(ptrs[1] + i * strides[1]));
        }
      });
    });
  });
}

void fill_kernel(const Tensor& dst, double value) {
  if (dst.numel() == 0) return;
  auto loop = make_strided_loop<1>({&dst});
  std::array<char*, 1> base = {static_cast<char*>(dst.data_ptr())};
  STRATA_DISPATCH_ALL(dst.dtype(), "fill_", [&] {
    const scalar_t fill_value = convert<scalar_t>(value);
    for_each_row<1>(loop, base, [fill_value](char** ptrs, const int64_t* strides, int64_t n) {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<scalar_t*>(ptrs[0] + i * strides[0]) = fill_value;
    });
  });
}

}  // namespace strata::cpu::STRATA_ISA
