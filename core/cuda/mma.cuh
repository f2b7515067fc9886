// Warp-level tensor-core building blocks for sm_80 and newer, as inline PTX: asynchronous 16-byte
// copies into shared memory, ldmatrix fragment loads, and the m16n8k16 bf16/f16 MMA with f32
// accumulators.
//
// Fragment layouts (PTX ISA, "Matrix fragments for mma.m16n8k16"), with group = lane / 4 and
// pair = lane % 4; each 32-bit register holds two 16-bit elements, the lower column in the low
// half:
//   A (16 x 16, row-major) a[0]: row group,     cols 2 pair + {0, 1}
//                          a[1]: row group + 8, cols 2 pair + {0, 1}
//                          a[2]: row group,     cols 2 pair + 8 + {0, 1}
//                          a[3]: row group + 8, cols 2 pair + 8 + {0, 1}
//   B (16 x 8, k x n)      b[0]: k = 2 pair + {0, 1}, n = group; b[1]: k = 2 pair + 8 + {0, 1}
//   C (16 x 8, f32)        c[0], c[1]: row group, cols 2 pair + {0, 1}; c[2], c[3]: row group + 8
// ldmatrix.x4 loads four 8 x 8 matrices, lanes 8m..8m+7 giving the row addresses of matrix m; lane
// receives in register m the elements (row lane / 4, cols 2 (lane % 4) + {0, 1}) of matrix m, or
// with .trans the elements (rows 2 (lane % 4) + {0, 1}, col lane / 4).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace strata::cuda::mma {

__device__ inline uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Copies 16 bytes from global to shared memory asynchronously; when !valid nothing is read and
// the 16 bytes are zero-filled (src must still be a valid address).
__device__ inline void cp_async_16(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(smem)),
               "l"(gmem), "r"(valid ? 16 : 0)
               : "memory");
}
__device__ inline void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// Waits until at most `pending` of this thread's committed groups are still in flight.
template <int pending>
__device__ inline void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(pending) : "memory");
}

__device__ inline void ldmatrix_x4(uint32_t (&r)[4], const void* smem_row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(smem_row)));
}
__device__ inline void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem_row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(smem_row)));
}

// c += A B for one 16 x 8 x 16 tile; T is __nv_bfloat16 or __half.
template <class T>
__device__ inline void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    static_assert(std::is_same_v<T, __half>, "mma_16816: T must be __nv_bfloat16 or __half");
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Two floats rounded (RNE) into one register of T: lo in the low half.
template <class T>
__device__ inline uint32_t pack(float lo, float hi) {
  uint32_t bits;
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    memcpy(&bits, &v, sizeof bits);
  } else {
    __half2 v = __floats2half2_rn(lo, hi);
    memcpy(&bits, &v, sizeof bits);
  }
  return bits;
}

// The A fragment of P (16 x 16 keys kk*16..) from the C fragments of the two 16 x 8 tiles of
// scores covering those keys: C's layout of a 16 x 16 pair is A's layout.
template <class T>
__device__ inline void c_pair_to_a(uint32_t (&a)[4], const float (&lo)[4], const float (&hi)[4]) {
  a[0] = pack<T>(lo[0], lo[1]);
  a[1] = pack<T>(lo[2], lo[3]);
  a[2] = pack<T>(hi[0], hi[1]);
  a[3] = pack<T>(hi[2], hi[3]);
}

}  // namespace strata::cuda::mma
