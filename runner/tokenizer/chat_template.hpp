// tokenizer/chat_template.hpp — the DeepSeek chat formats, rendered by built-in code (no Jinja).
//
// A GGUF's tokenizer.chat_template is recognised as one of the supported families (the same
// markers llama.cpp's llm_chat_detect_template looks for) and rendered by the matching built-in
// renderer, which reproduces what the model's Jinja template produces:
//   deepseek3 (DeepSeek-V3 / R1 / V3.x): "<BOS>{systems joined by \n\n}<｜User｜>{user}<｜Assistant｜>
//             {assistant}<｜end▁of▁sentence｜>...", tool outputs as the template wraps them, and
//             "<｜Assistant｜>" as the generation prompt;
//   deepseek2 (DeepSeek-V2 / V2-Lite chat): "<BOS>{system}\n\nUser: {user}\n\nAssistant: {assistant}
//             <EOS>...", and "Assistant:" as the generation prompt.
// The output starts with the BOS text, as the templates do: encode it with add_bos = false.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "tokenizer/tokenizer.hpp"

namespace dsk::tok {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"; "tool" (deepseek3 only)
  std::string content;
};

enum class ChatFormat { DEEPSEEK_V3, DEEPSEEK_V2 };

const char* chat_format_name(ChatFormat f);  // "deepseek3" / "deepseek2"
// "deepseek3" (also "deepseek-v3"), "deepseek2" (also "deepseek-v2"); others: an error listing them.
Result<ChatFormat> chat_format_from_name(std::string_view name);
// The family of a Jinja chat template; an unknown template is an error that suggests the built-in
// "deepseek3" format.
Result<ChatFormat> detect_chat_format(std::string_view jinja_template);

// Renders messages in format f. bos_text / eos_text: the texts of the BOS / EOS tokens (the
// templates' bos_token / eos_token). An unknown role is an error.
Result<std::string> render_chat(ChatFormat f, std::span<const ChatMessage> messages, bool add_generation_prompt,
                                std::string_view bos_text = "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
                                std::string_view eos_text = "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>");

// Renders with the tokenizer's BOS / EOS texts, in `format` when given, else in the family of the
// tokenizer's chat_template, else (no template in the GGUF) the built-in deepseek3.
Result<std::string> apply_chat_template(const Tokenizer& tok, std::span<const ChatMessage> messages,
                                        bool add_generation_prompt, std::optional<ChatFormat> format = std::nullopt);

}  // namespace dsk::tok
