#include "resnet.h"

#include <stdexcept>

namespace ta {

namespace nn = torch::nn;

const std::vector<std::string>& resnet_names() {
  static const std::vector<std::string> names = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152"};
  return names;
}

ResNetSpec resnet_spec(const std::string& name) {
  if (name == "resnet18") return {name, false, {2, 2, 2, 2}};
  if (name == "resnet34") return {name, false, {3, 4, 6, 3}};
  if (name == "resnet50") return {name, true, {3, 4, 6, 3}};
  if (name == "resnet101") return {name, true, {3, 4, 23, 3}};
  if (name == "resnet152") return {name, true, {3, 8, 36, 3}};
  throw std::invalid_argument("unknown architecture " + name);
}

torch::Tensor FusedConv::operator()(const torch::Tensor& x) const {
  return torch::conv2d(x, weight, bias, stride, padding);
}

FusedConv fuse_conv_bn(const nn::Conv2d& conv, const nn::BatchNorm2d& bn, bool channels_last,
                       c10::ScalarType dtype) {
  torch::NoGradGuard ng;
  FusedConv f;
  const auto& o = bn->options;
  torch::Tensor scale = bn->weight / torch::sqrt(bn->running_var + o.eps());
  // channels-last: oneDNN (CPU, LibTorch 2) and cuDNN (tensor cores) run NHWC faster.
  f.weight = (conv->weight * scale.reshape({-1, 1, 1, 1}))
                 .to(dtype)
                 .contiguous(channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
  f.bias = (bn->bias - bn->running_mean * scale).to(dtype);
  f.stride = conv->options.stride()->at(0);
  // Every ResNet convolution pads kernel / 2 (the options' padding is a variant whose
  // type differs between LibTorch versions).
  f.padding = conv->options.kernel_size()->at(0) / 2;
  return f;
}

// Once folded, the convolution's own weight and the BatchNorm's tensors are not used
// again: free them, so that a model holds one copy of its weights.
void release_unfused(const nn::Conv2d& conv, const nn::BatchNorm2d& bn) {
  torch::NoGradGuard ng;
  auto drop = [](const torch::Tensor& t) { const_cast<torch::Tensor&>(t).set_data(torch::empty({0}, t.options())); };
  drop(conv->weight);
  drop(bn->weight);
  drop(bn->bias);
  drop(bn->running_mean);
  drop(bn->running_var);
}

namespace {

nn::Conv2d conv(int in, int out, int k, int stride, int pad) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(false));
}

// torchvision's BasicBlock (expansion 1) and Bottleneck (expansion 4, stride on the 3x3
// convolution: "ResNet v1.5").
class BlockImpl : public nn::Module {
 public:
  BlockImpl(bool bottleneck, int in, int planes, int stride) : bottleneck_(bottleneck) {
    const int out = planes * (bottleneck ? 4 : 1);
    if (bottleneck) {
      conv1 = register_module("conv1", conv(in, planes, 1, 1, 0));
      bn1 = register_module("bn1", nn::BatchNorm2d(planes));
      conv2 = register_module("conv2", conv(planes, planes, 3, stride, 1));
      bn2 = register_module("bn2", nn::BatchNorm2d(planes));
      conv3 = register_module("conv3", conv(planes, out, 1, 1, 0));
      bn3 = register_module("bn3", nn::BatchNorm2d(out));
    } else {
      conv1 = register_module("conv1", conv(in, planes, 3, stride, 1));
      bn1 = register_module("bn1", nn::BatchNorm2d(planes));
      conv2 = register_module("conv2", conv(planes, planes, 3, 1, 1));
      bn2 = register_module("bn2", nn::BatchNorm2d(planes));
    }
    if (stride != 1 || in != out) {
      ds_conv = conv(in, out, 1, stride, 0);
      ds_bn = nn::BatchNorm2d(out);
      downsample = register_module("downsample", nn::Sequential(ds_conv, ds_bn));
    }
  }

  void fuse(bool cl, c10::ScalarType dtype) {
    c1 = fuse_conv_bn(conv1, bn1, cl, dtype);
    c2 = fuse_conv_bn(conv2, bn2, cl, dtype);
    if (bottleneck_) c3 = fuse_conv_bn(conv3, bn3, cl, dtype);
    if (downsample) ds = fuse_conv_bn(ds_conv, ds_bn, cl, dtype);
    release_unfused(conv1, bn1);
    release_unfused(conv2, bn2);
    if (bottleneck_) release_unfused(conv3, bn3);
    if (downsample) release_unfused(ds_conv, ds_bn);
    fused_ = true;
  }

  torch::Tensor forward(torch::Tensor x) {
    if (fused_) {
      torch::Tensor identity = downsample ? ds(x) : x;
      torch::Tensor y = c1(x).relu_();
      if (bottleneck_) {
        y = c2(y).relu_();
        y = c3(y);
      } else {
        y = c2(y);
      }
      return y.add_(identity).relu_();
    }
    torch::Tensor identity = downsample ? downsample->forward(x) : x;
    torch::Tensor y = torch::relu(bn1(conv1(x)));
    if (bottleneck_) {
      y = torch::relu(bn2(conv2(y)));
      y = bn3(conv3(y));
    } else {
      y = bn2(conv2(y));
    }
    return torch::relu(y + identity);
  }

 private:
  bool bottleneck_;
  bool fused_ = false;
  FusedConv c1, c2, c3, ds;
  nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  nn::Sequential downsample{nullptr};
  nn::Conv2d ds_conv{nullptr};
  nn::BatchNorm2d ds_bn{nullptr};
};
TORCH_MODULE(Block);

}  // namespace

ResNetImpl::ResNetImpl(const ResNetSpec& spec, int num_classes) {
  conv1 = register_module("conv1", conv(3, 64, 7, 2, 3));
  bn1 = register_module("bn1", nn::BatchNorm2d(64));
  const int expansion = spec.bottleneck ? 4 : 1;
  int in = 64;
  nn::Sequential* layers[4] = {&layer1, &layer2, &layer3, &layer4};
  for (int l = 0; l < 4; l++) {
    const int planes = 64 << l;
    nn::Sequential seq;
    for (int b = 0; b < spec.blocks[l]; b++) {
      Block blk(spec.bottleneck, in, planes, (b == 0 && l > 0) ? 2 : 1);
      blocks_.push_back(blk.ptr());
      seq->push_back(blk);
      in = planes * expansion;
    }
    *layers[l] = register_module("layer" + std::to_string(l + 1), seq);
  }
  fc = register_module("fc", nn::Linear(512 * expansion, num_classes));
}

void ResNetImpl::fuse_for_inference(bool channels_last, c10::ScalarType dtype) {
  channels_last_ = channels_last;
  stem_ = fuse_conv_bn(conv1, bn1, channels_last, dtype);
  release_unfused(conv1, bn1);
  for (auto& b : blocks_) std::static_pointer_cast<BlockImpl>(b)->fuse(channels_last, dtype);
  // What is left registered: fc, and the emptied unfused tensors.
  to(dtype);
  fused_ = true;
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  if (fused_ && channels_last_) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  x = fused_ ? stem_(x).relu_() : torch::relu(bn1(conv1(x)));
  x = torch::max_pool2d(x, 3, 2, 1);
  x = layer4->forward(layer3->forward(layer2->forward(layer1->forward(x))));
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return fc(x);
}

}  // namespace ta
