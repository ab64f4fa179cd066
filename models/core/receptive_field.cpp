// The size/jump/start recurrence of receptive_field.hpp.
#include "models/core/receptive_field.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "models/core/geometry.hpp"

namespace vb::rf {

Field through(const Field& in, const Window& w) {
  if (w.kernel < 1 || w.stride < 1 || w.padding < 0 || w.dilation < 1)
    throw std::invalid_argument(
        fmt::format("receptive field: bad window kernel {} stride {} padding {} dilation {}", w.kernel,
                    w.stride, w.padding, w.dilation));
  const int64_t span =
      w.dilation * (w.kernel - 1);  // pixels between the window's first and last tap, minus 1
  Field out;
  out.size = in.size + span * in.jump;
  out.jump = in.jump * w.stride;
  out.start = in.start + (static_cast<double>(span) / 2 - static_cast<double>(w.padding)) * in.jump;
  out.extent = conv_out(in.extent, w.kernel, w.stride, w.padding, w.dilation);
  return out;
}

Field image_field(int64_t img_size) {
  return Field{.size = 1, .jump = 1, .start = 0, .extent = img_size};
}

TapRf tap_at_centre(const std::string& name, TapLayout layout, const Field& f) {
  return {.name = name, .layout = layout, .field = f, .whole_image = false, .centre = f.centre(f.extent / 2)};
}

}  // namespace vb::rf
