#include "model_helpers.h"

#include <cmath>

namespace ta_test {

std::vector<std::vector<ta::Prediction>> classify(ta::Model& m, const float* input, int n, int h, int w,
                                                  ta::Activation act, int top_k, float threshold) {
  const std::vector<ta::TopLogits> tops = m.top_logits(input, n, h, w, top_k);
  std::vector<std::vector<ta::Prediction>> out;
  for (const ta::TopLogits& t : tops) out.push_back(ta::postprocess(t, act, top_k, threshold));
  return out;
}

std::vector<float> scores(ta::Model& m, const float* input, int n, int h, int w, ta::Activation act) {
  const int c = m.num_classes();
  const std::vector<ta::TopLogits> tops = m.top_logits(input, n, h, w, c);
  // NaN marks a class the model did not return (the caller's comparison then fails).
  std::vector<float> out((size_t)n * c, NAN);
  for (int i = 0; i < n && i < (int)tops.size(); i++)
    for (const ta::Prediction& p : ta::postprocess(tops[i], act, c, -INFINITY))
      if (p.class_id >= 0 && p.class_id < c) out[(size_t)i * c + p.class_id] = p.score;
  return out;
}

}  // namespace ta_test
