// reference/v4_indexer.hpp — host reference of dsk/v4/indexer.hpp: DeepSeek-V4 lightning indexer
// scores and top-k selection. Validates the Params and every n_vis[t] (in [0, keys.n_rows]) before
// writing anything.
#pragma once

#include "dsk/core/status.hpp"
#include "dsk/v4/indexer.hpp"

namespace dsk::ref::v4 {

Status indexer(const dsk::v4::IndexerParams& p);

}  // namespace dsk::ref::v4
