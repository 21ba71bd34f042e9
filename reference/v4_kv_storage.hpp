// reference/v4_kv_storage.hpp — host reference of dsk/v4/kv_storage.hpp: DeepSeek-V4 KV storage rounding
// (`--kv-storage official`) over T rows: attention rows (FP8-E4M3 blocks of 64 on the non-RoPE dims, then
// F16) or indexer rows (Hadamard, FP4-E2M1 blocks of 32, then F16 for stored rows). Validates before
// writing anything; rows are independent.
#pragma once

#include "dsk/core/status.hpp"
#include "dsk/v4/kv_storage.hpp"

namespace dsk::ref::v4 {

Status kv_store(const dsk::v4::KvStoreParams& p);

}  // namespace dsk::ref::v4
