// run_in_child: what a crash, a hang, a clean finish and an exit status in the child look like to the parent.
#include <sys/mman.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <stdexcept>
#include <thread>

#include "harness/child_process.hpp"

using vb::ChildOutcome;
using vb::run_in_child;
using namespace std::chrono_literals;

TEST_CASE("run_in_child reports a finished child, and memory it writes stays its own", "[harness][child]") {
  int local = 1;
  auto* shared = static_cast<int*>(
      mmap(nullptr, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  REQUIRE(shared != MAP_FAILED);
  *shared = 0;
  const ChildOutcome out = run_in_child(
      [&] {
        local = 2;
        *shared = 3;
      },
      10s);
  CHECK(out.ok());
  CHECK(local == 1);    // the child's copy changed, not ours
  CHECK(*shared == 3);  // MAP_SHARED is how a child hands a result back
  munmap(shared, sizeof(int));
  // An exception in the child ends it normally: the caller meets the same error when it repeats the work.
  CHECK(run_in_child([] { throw std::runtime_error("x"); }, 10s).ok());
}

TEST_CASE("run_in_child turns a crash, a hang and an exit status into outcomes", "[harness][child]") {
  // A crash: the default action of SIGSEGV (plain build), or the sanitizer's report ending the child (ASan).
  const ChildOutcome crash = run_in_child([] { std::raise(SIGSEGV); }, 10s);
  CHECK_FALSE(crash.ok());
  CHECK(((crash.kind == ChildOutcome::Kind::signal && crash.signal == SIGSEGV) ||
         crash.kind == ChildOutcome::Kind::sanitizer));
  CHECK_THAT(crash.describe(), Catch::Contains("signal 11") || Catch::Contains("sanitizer"));

  const ChildOutcome hang = run_in_child([] { std::this_thread::sleep_for(60s); }, 1s);
  CHECK(hang.kind == ChildOutcome::Kind::timeout);

  const ChildOutcome status = run_in_child([] { _exit(3); }, 10s);
  CHECK(status.kind == ChildOutcome::Kind::exit_code);
  CHECK(status.code == 3);
  CHECK(status.describe() == "exited with status 3");
}
