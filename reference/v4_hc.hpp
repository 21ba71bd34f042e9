// reference/v4_hc.hpp — host references of dsk/v4/hc.hpp: DeepSeek-V4 hyper-connection pre step,
// post step and output-head collapse. Each validates its Params first (nothing written on error).
#pragma once

#include "dsk/core/status.hpp"
#include "dsk/v4/hc.hpp"

namespace dsk::ref::v4 {

Status hc_pre(const dsk::v4::HcPreParams& p);
Status hc_post(const dsk::v4::HcPostParams& p);
Status hc_head(const dsk::v4::HcHeadParams& p);

}  // namespace dsk::ref::v4
