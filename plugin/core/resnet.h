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

class ResNetImpl : public torch::nn::Module {
 public:
  ResNetImpl(const ResNetSpec& spec, int num_classes);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(ResNet);

}  // namespace ta
