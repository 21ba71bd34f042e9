// model/hf_convert.hpp — Hugging Face DeepSeek V2 / V3 checkpoints (config.json + *.safetensors) to
// deepseek2 GGUF in mainline llama.cpp's layout (dsk-convert; docs/models.md).
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"
#include "dsk/quant/types.hpp"
#include "gguf/metadata.hpp"
#include "model/deepseek2.hpp"
#include "model/gguf_stream.hpp"

namespace dsk::model {

// config.json -> Deepseek2Config (finished). Errors name the config key.
Result<Deepseek2Config> hf_deepseek_config(const std::string& config_json_text, std::string* model_type = nullptr);

struct ConvertOptions {
  std::string hf_dir;
  std::string out;
  GgmlType type = GgmlType::BF16;  // F32 F16 BF16 Q8_0 Q4_K Q6_K Q2_K
  gguf::Metadata tokenizer;        // tokenizer.* keys to write (may be empty)
  unsigned threads = 0;
  StreamProgress progress;         // per written tensor (optional)
};

struct ConvertReport {
  Deepseek2Config config;
  std::string model_type;
  size_t n_tensors = 0;
  uint64_t n_bytes = 0;
  std::vector<std::string> widened;  // "name: TYPE (row K; asked TYPE2)"
  std::vector<std::string> skipped;  // HF tensors not converted (MTP layers, unknown), with why
  bool fp8 = false;                  // some weights were F8_E4M3 with block scales
};

Result<ConvertReport> convert_hf_deepseek(const ConvertOptions& opt);

// Shared by the deepseek2 and deepseek4 converters: an error unless t is an output type they write,
// and the text of HF_DIR/config.json.
Result<void> check_convert_type(GgmlType t);
Result<std::string> read_hf_config(const std::string& hf_dir);

}  // namespace dsk::model
