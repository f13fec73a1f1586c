// ResNet 18/34/50/101/152 written with torch::nn, with torchvision's module names, so
// that torch.save(torchvision.models.resnetN().state_dict()) loads into it key by key.
#pragma once

#include <torch/nn.h>

#include <string>
#include <vector>

namespace ta {

struct ResNetSpec {
  std::string name;
  bool bottleneck;
  std::vector<int> blocks;  // per layer
};

// Throws std::invalid_argument for an unknown name.
ResNetSpec resnet_spec(const std::string& name);
const std::vector<std::string>& resnet_names();

// A convolution with its BatchNorm folded in (inference only).
struct FusedConv {
  torch::Tensor weight, bias;
  int64_t stride = 1, padding = 0;
  torch::Tensor operator()(const torch::Tensor& x) const;
};

// conv -> bn as one convolution: w * g / sqrt(v + eps), b - m * g / sqrt(v + eps),
// computed in the tensors' own dtype (fp32 for a loaded model) and then cast to `dtype`:
// folded in half precision, sqrt(v + eps) and the bias's difference lose most of their
// bits.
FusedConv fuse_conv_bn(const torch::nn::Conv2d& conv, const torch::nn::BatchNorm2d& bn, bool channels_last,
                       c10::ScalarType dtype);

class ResNetImpl : public torch::nn::Module {
 public:
  ResNetImpl(const ResNetSpec& spec, int num_classes);
  torch::Tensor forward(torch::Tensor x);

  // Folds every BatchNorm into its convolution and casts the module to `dtype`, for
  // inference after the weights are loaded and the module is on its device, still in fp32
  // (the folding is done in the module's dtype: fold first, then cast). Faster on the CPU,
  // equal up to float rounding. The unfused convolution and BatchNorm tensors are freed:
  // after this the module only runs forward().
  void fuse_for_inference(bool channels_last, c10::ScalarType dtype);

 private:
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};
  std::vector<std::shared_ptr<torch::nn::Module>> blocks_;
  FusedConv stem_;
  bool fused_ = false;
  bool channels_last_ = false;
};
TORCH_MODULE(ResNet);

}  // namespace ta
