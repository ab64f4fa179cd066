// array_spec: the --array value `sweep submit` gives sbatch for the lines still to run.
#include <catch2/catch.hpp>

#include "harness/run/slurm.hpp"

using vb::run::slurm::array_spec;

TEST_CASE("array_spec folds consecutive lines into ranges and caps the running tasks", "[harness][slurm]") {
  CHECK(array_spec({0}, 0) == "0");
  CHECK(array_spec({0, 1, 2, 3}, 0) == "0-3");
  CHECK(array_spec({0, 1, 2, 5, 7, 8, 12}, 0) == "0-2,5,7-8,12");
  CHECK(array_spec({3, 4, 10}, 2) == "3-4,10%2");
  CHECK(array_spec({123456}, 16) == "123456%16");
}
