#include "session/session.hpp"

#include <algorithm>
#include <thread>

#include "backend/cpu_ops.hpp"
#include "backend/cuda_ops.hpp"

namespace dsk::session {

Result<std::unique_ptr<Session>> Session::open(const std::string& path, const SessionOptions& o) {
  std::unique_ptr<Session> s(new Session());
  DSK_TRY_ASSIGN(gguf::Reader r, gguf::Reader::open(path));
  s->reader_.emplace(std::move(r));
  auto arch = s->reader_->metadata().get_string("general.architecture");
  if (!arch) return std::move(arch).error();
  if (arch.value() != "deepseek2")
    return Error::format("%s: architecture '%.*s' is not supported (supported: deepseek2)", path.c_str(),
                         static_cast<int>(arch.value().size()), arch.value().data());
  DSK_TRY_ASSIGN(model::Deepseek2Model m, model::load_deepseek2(*s->reader_));
  s->model_ = std::move(m);
  if (auto t = tok::Tokenizer::from_gguf(s->reader_->metadata())) {
    s->tokenizer_.emplace(std::move(t).value());
  } else {
    s->tokenizer_error_ = std::move(t).error().message();
  }
  if (o.backend == BackendKind::cuda) {
    backend::CudaOptions co;
    co.synthetic_weights = o.synthetic_weights;
    co.profile = o.profile;
    co.graphs = o.cuda_graphs;
    DSK_TRY_ASSIGN(s->ops_, backend::make_cuda_ops(co));
  } else {
    const int threads = o.threads > 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency());
    s->ops_ = std::make_unique<backend::CpuOps>(threads);
  }
  forward::Deepseek2Options fo;
  fo.n_ctx = o.n_ctx > 0 ? o.n_ctx : std::min<int64_t>(s->model_.config.n_ctx_train ? s->model_.config.n_ctx_train : 4096, 4096);
  s->forward_ = std::make_unique<forward::Deepseek2Forward>(s->model_, *s->ops_, fo);
  DSK_TRY(s->forward_->init());
  return s;
}

Result<void> Session::eval(std::span<const int32_t> tokens, bool all_logits, std::vector<float>& logits) {
  DSK_TRY(forward_->eval(tokens, n_past_, all_logits, logits));
  n_past_ += static_cast<int64_t>(tokens.size());
  return {};
}

}  // namespace dsk::session
