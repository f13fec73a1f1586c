// What tests and benchmarks ask of a ta::Model beyond what the element needs, built on
// the path the element runs: Model::top_logits, then ta::postprocess (engine.h).
// LibTorch-free.
#pragma once

#include <vector>

#include "engine.h"
#include "model.h"

namespace ta_test {

// Per frame of n preprocessed frames (3 x h x w floats each): up to top_k predictions
// with score >= threshold, best first, as torchclassify attaches them. Throws ta::Error.
std::vector<std::vector<ta::Prediction>> classify(ta::Model& m, const float* input, int n, int h, int w,
                                                  ta::Activation act, int top_k, float threshold);

// Every class's score of each frame after `act`, n x num_classes in class order: the best
// num_classes logits through postprocess, put back in class order. Throws ta::Error.
std::vector<float> scores(ta::Model& m, const float* input, int n, int h, int w, ta::Activation act);

}  // namespace ta_test
