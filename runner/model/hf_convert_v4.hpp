// model/hf_convert_v4.hpp — Hugging Face DeepSeek-V4 checkpoints (config.json model_type deepseek_v4 +
// *.safetensors) to a deepseek4 GGUF in the layout ds4 publishes (dsk-convert; docs/models.md).
//
// Tensor names: the official release's (`embed.weight`, `layers.N.attn.wq_a.weight`, `hc_head_fn`,
// experts `layers.N.ffn.experts.E.w1.weight`, MTP `mtp.0.*`) or those transformers saves
// (`model.embed_tokens.weight`, `model.layers.N.attn.wq_a.weight`, `model.hc_head.hc_fn`, ...).
// Dtypes: BF16, F16, F32; F8_E4M3 with a block scale (`.scale` F8_E8M0, or `.weight_scale_inv` F32 /
// BF16 / F16; blocks from quantization_config.weight_block_size, default 128 x 128); routed experts
// in FP4 (E2M1, two per byte, low nibble first: I8 / U8 [out, in/2]) with an F8_E8M0 scale per 32
// inputs ([out, in/32]). Every dequantized value is exact: e4m3 / e2m1 times a power of two.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"
#include "model/deepseek4.hpp"
#include "model/hf_convert.hpp"

namespace dsk::model {

// config.json's model_type ("" when absent or not a string / not JSON).
std::string hf_model_type(const std::string& config_json_text);

// config.json (model_type deepseek_v4) -> Deepseek4Config. Errors name the config key.
Result<Deepseek4Config> hf_deepseek4_config(const std::string& config_json_text);

struct Convert4Report {
  Deepseek4Config config;
  std::string naming;                // "official" or "transformers"
  size_t n_tensors = 0;
  uint64_t n_bytes = 0;
  std::vector<std::string> widened;  // "name: TYPE (row K; asked TYPE2)"
  std::vector<std::string> skipped;  // HF tensors not converted, with why
  bool fp8 = false;                  // some weights were F8_E4M3 with block scales
  bool fp4 = false;                  // some experts were FP4 with E8M0 scales
  bool mtp = false;                  // the MTP block (mtp.0.*) was converted
};

// opt.type: F32 F16 BF16 Q8_0 Q4_K Q6_K Q2_K.
Result<Convert4Report> convert_hf_deepseek4(const ConvertOptions& opt);

// FP4 E2M1 (sign, 2 exponent bits, 1 mantissa bit: 0, 0.5, 1, 1.5, 2, 3, 4, 6) and the OCP E8M0
// scale (2^(e - 127); 0xff is NaN), exactly.
float fp4_e2m1_to_float(uint8_t nibble);
float e8m0_to_float(uint8_t e);

}  // namespace dsk::model
