// tokenizer/chat_template.cpp — built-in renderers of the DeepSeek chat templates.
#include "tokenizer/chat_template.hpp"

namespace dsk::tok {

namespace {

constexpr std::string_view kUser = "<\xEF\xBD\x9CUser\xEF\xBD\x9C>";             // <｜User｜>
constexpr std::string_view kAssistant = "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>";  // <｜Assistant｜>
constexpr std::string_view kEndOfSentence = "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";
constexpr std::string_view kToolOutputsBegin = "<\xEF\xBD\x9Ctool\xE2\x96\x81outputs\xE2\x96\x81" "begin\xEF\xBD\x9C>";
constexpr std::string_view kToolOutputsEnd = "<\xEF\xBD\x9Ctool\xE2\x96\x81outputs\xE2\x96\x81" "end\xEF\xBD\x9C>";
constexpr std::string_view kToolOutputBegin = "<\xEF\xBD\x9Ctool\xE2\x96\x81output\xE2\x96\x81" "begin\xEF\xBD\x9C>";
constexpr std::string_view kToolOutputEnd = "<\xEF\xBD\x9Ctool\xE2\x96\x81output\xE2\x96\x81" "end\xEF\xBD\x9C>";

Error unknown_role(ChatFormat f, size_t i, const std::string& role) {
  return Error("chat message " + std::to_string(i) + ": role " + gguf::quoted(role) + " is not supported by the " +
               chat_format_name(f) + " format (" +
               (f == ChatFormat::DEEPSEEK_V3 ? "system, user, assistant, tool" : "system, user, assistant") + ")");
}

// DeepSeek-V3's tokenizer_config.json template, step by step (tool *calls* are not supported: an
// assistant message always has content here).
Result<std::string> render_v3(std::span<const ChatMessage> msgs, bool add_generation_prompt, std::string_view bos) {
  std::string system;
  bool first_system = true;
  for (const auto& m : msgs) {
    if (m.role != "system") continue;
    if (!first_system) system += "\n\n";
    system += m.content;
    first_system = false;
  }
  std::string out(bos);
  out += system;
  bool is_tool = false, is_output_first = true;  // the template's ns.is_tool / ns.is_output_first
  for (size_t i = 0; i < msgs.size(); ++i) {
    const auto& m = msgs[i];
    if (m.role == "system") continue;
    if (m.role == "user") {
      is_tool = false;
      out += kUser;
      out += m.content;
    } else if (m.role == "assistant") {
      if (is_tool) {
        out += kToolOutputsEnd;
        out += m.content;
        out += kEndOfSentence;
        is_tool = false;
      } else {
        out += kAssistant;
        out += m.content;
        out += kEndOfSentence;
      }
    } else if (m.role == "tool") {
      is_tool = true;
      if (is_output_first) {
        out += kToolOutputsBegin;
        out += kToolOutputBegin;
        is_output_first = false;  // never reset: the template's behaviour
      } else {
        out += "\n";
        out += kToolOutputBegin;
      }
      out += m.content;
      out += kToolOutputEnd;
    } else {
      return unknown_role(ChatFormat::DEEPSEEK_V3, i, m.role);
    }
  }
  if (is_tool) out += kToolOutputsEnd;
  if (add_generation_prompt && !is_tool) out += kAssistant;
  return out;
}

// DeepSeek-V2(-Lite)-Chat's template.
Result<std::string> render_v2(std::span<const ChatMessage> msgs, bool add_generation_prompt, std::string_view bos,
                              std::string_view eos) {
  std::string out(bos);
  for (size_t i = 0; i < msgs.size(); ++i) {
    const auto& m = msgs[i];
    if (m.role == "user") {
      out += "User: ";
      out += m.content;
      out += "\n\n";
    } else if (m.role == "assistant") {
      out += "Assistant: ";
      out += m.content;
      out += eos;
    } else if (m.role == "system") {
      out += m.content;
      out += "\n\n";
    } else {
      return unknown_role(ChatFormat::DEEPSEEK_V2, i, m.role);
    }
  }
  if (add_generation_prompt) out += "Assistant:";
  return out;
}

}  // namespace

const char* chat_format_name(ChatFormat f) { return f == ChatFormat::DEEPSEEK_V3 ? "deepseek3" : "deepseek2"; }

Result<ChatFormat> chat_format_from_name(std::string_view name) {
  if (name == "deepseek3" || name == "deepseek-v3") return ChatFormat::DEEPSEEK_V3;
  if (name == "deepseek2" || name == "deepseek-v2") return ChatFormat::DEEPSEEK_V2;
  return Error("unknown chat format " + gguf::quoted(name) + " (built-in: deepseek3, deepseek2)");
}

Result<ChatFormat> detect_chat_format(std::string_view t) {
  auto has = [&](std::string_view s) { return t.find(s) != std::string_view::npos; };
  if (has(kUser) && has(kAssistant) && has(kEndOfSentence)) return ChatFormat::DEEPSEEK_V3;
  if (has("'Assistant: ' + message['content'] + eos_token")) return ChatFormat::DEEPSEEK_V2;
  return Error("tokenizer.chat_template is not a recognised DeepSeek template (the deepseek3 and deepseek2 "
               "families are built in; there is no Jinja engine): use the built-in 'deepseek3' format instead");
}

Result<std::string> render_chat(ChatFormat f, std::span<const ChatMessage> messages, bool add_generation_prompt,
                                std::string_view bos_text, std::string_view eos_text) {
  if (f == ChatFormat::DEEPSEEK_V3) return render_v3(messages, add_generation_prompt, bos_text);
  return render_v2(messages, add_generation_prompt, bos_text, eos_text);
}

Result<std::string> apply_chat_template(const Tokenizer& tok, std::span<const ChatMessage> messages,
                                        bool add_generation_prompt, std::optional<ChatFormat> format) {
  ChatFormat f = ChatFormat::DEEPSEEK_V3;
  if (format) {
    f = *format;
  } else if (!tok.chat_template().empty()) {
    DSK_TRY_ASSIGN(f, detect_chat_format(tok.chat_template()));
  }
  const std::string bos = tok.bos() >= 0 ? tok.token_text(tok.bos()) : std::string();
  const std::string eos = tok.eos() >= 0 ? tok.token_text(tok.eos()) : std::string();
  return render_chat(f, messages, add_generation_prompt, bos, eos);
}

}  // namespace dsk::tok
