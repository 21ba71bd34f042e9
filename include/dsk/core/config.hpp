// dsk/core/config.hpp — compilation-target macros shared by every dsk header.
//
// DSK_HD marks a function compiled for both the host (references, CPU backend) and the device
// (kernels): the one-source rule of docs/numerics.md. DSK_DEVICE_CODE is true only in the device
// pass of nvcc, where the explicit-rounding intrinsics of fp.hpp are used.
#pragma once

#if defined(__CUDACC__)
#define DSK_HD __host__ __device__ __forceinline__
#define DSK_HOST_DEVICE __host__ __device__
#else
#define DSK_HD inline
#define DSK_HOST_DEVICE
#endif

#if defined(__CUDA_ARCH__)
#define DSK_DEVICE_CODE 1
#else
#define DSK_DEVICE_CODE 0
#endif

#if defined(__CUDACC__) || defined(__clang__) || defined(__GNUC__)
#define DSK_RESTRICT __restrict__
#else
#define DSK_RESTRICT
#endif
