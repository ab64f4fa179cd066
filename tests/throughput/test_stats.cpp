// Throughput statistics and the memory-fit check: pure functions, checked on known inputs.
#include <catch2/catch.hpp>

#include "harness/throughput/memory.hpp"
#include "harness/throughput/stats.hpp"
#include "harness/throughput/throughput.hpp"
#include "models/core/cpu.hpp"

using namespace vb;
using Catch::Matchers::Contains;

TEST_CASE("quantiles interpolate linearly between order statistics (numpy's default)", "[throughput]") {
  const std::vector<double> s{7, 1, 10, 3, 5, 2, 9, 4, 8, 6};  // 1..10 shuffled
  const Quantiles q = quantiles(s);
  CHECK(q.median == Approx(5.5));
  CHECK(q.p10 == Approx(1.9));  // numpy.quantile(range(1, 11), 0.1)
  CHECK(q.p90 == Approx(9.1));
  CHECK(quantile({4, 1, 3}, 0.5) == 3);
  CHECK(quantile({2.5}, 0.1) == 2.5);
  CHECK(quantile({1, 2}, 0.0) == 1);
  CHECK(quantile({1, 2}, 1.0) == 2);
  CHECK_THROWS_WITH(quantile({}, 0.5), Contains("no samples"));
  CHECK_THROWS_WITH(quantile({1}, 1.5), Contains("[0, 1]"));
}

TEST_CASE("memory estimate: fixed + per image from two probes, and a batch that does not fit is refused",
          "[throughput]") {
  // Heap growth 300 at batch 2, 500 at batch 4 -> 100 per image, 100 fixed.
  const MemoryEstimate e = estimate_from_probes(300, 500, 2);
  CHECK(e.per_image_bytes == 100);
  CHECK(e.fixed_bytes == 100);
  CHECK(e.bytes(10) == 1100);
  CHECK_NOTHROW(check_fits(e, 8, 1000, "m"));      // 900 <= 0.9 x 1000
  CHECK_NOTHROW(check_fits(e, 1000000, -1, "m"));  // MemAvailable unknown: nothing to check against
  CHECK_THROWS_WITH(check_fits(e, 9, 1000, "vit train f32"), Contains("vit train f32 batch 9 would not fit"));
  try {
    check_fits(estimate_from_probes(3 << 20, 5 << 20, 2), 1000, 1 << 30, "resnet50 train f32");
    FAIL("a 1000 MiB estimate passed against 0.9 x 1 GiB");
  } catch (const std::runtime_error& err) {
    const std::string msg = err.what();
    CHECK_THAT(msg, Contains("resnet50 train f32 batch 1000 would not fit"));
    CHECK_THAT(msg, Contains("estimated 1001.0 MiB"));  // 1 MiB fixed + 1 MiB per image x 1000
    CHECK_THAT(msg, Contains("MemAvailable 1.00 GiB"));
  }
  // Growth that shrinks between the probes (allocator noise) never gives a negative estimate.
  const MemoryEstimate odd = estimate_from_probes(500, 300, 2);
  CHECK(odd.per_image_bytes == 0);
  CHECK(odd.fixed_bytes == 500);
}

TEST_CASE("throughput options: modes and dtypes by name, unknown ones named", "[throughput]") {
  CHECK(parse_enum<Mode>("mode", "infer") == Mode::eval);
  CHECK(parse_enum<Mode>("mode", "train") == Mode::train);
  CHECK(std::string(enum_name(Mode::eval)) == "infer");
  CHECK(parse_dtype("bf16") == DType::bf16);
  CHECK_THROWS_WITH(parse_dtype("f16"), Contains("unknown dtype 'f16'"));
  CHECK_THROWS_WITH(parse_enum<Mode>("mode", "eval"), Contains("unknown mode 'eval'; known: infer, train"));
  const ModelConfig cfg = preset("vit_tiny_patch4_32");
  CHECK(with_dtype(cfg, DType::f32).name == cfg.name);
  CHECK(with_dtype(cfg, DType::f32).dtype == DType::f32);
  // bf16: either this CPU runs it, or the refusal names the model and the ISA oneDNN dispatches to.
  if (bf16_supported())
    CHECK(with_dtype(cfg, DType::bf16).dtype == DType::bf16);
  else
    CHECK_THROWS_WITH(with_dtype(cfg, DType::bf16),
                      Contains("vit_tiny_patch4_32: bf16 not available") && Contains(cpu_isa_string()));
}
