# Sanitizer builds of the slow tier (docs/reliability.md):
#   VITBENCH_FUZZ (preset `fuzz`, clang): everything compiled with -fsanitize=fuzzer-no-link,address,undefined and
#     one libFuzzer binary fuzz_<target> per parser (tests/fuzz/); `cmake --build --preset fuzz` builds only
#     those and the libraries they link (target `fuzz`).
#   VITBENCH_TSAN (preset `tsan`): ThreadSanitizer, for the loader's prefetch-thread soak (scripts/tsan_soak.sh).
option(VITBENCH_FUZZ "Build the libFuzzer targets (clang): see the fuzz preset" OFF)
option(VITBENCH_TSAN "Build with ThreadSanitizer: see the tsan preset" OFF)

set(VITBENCH_FUZZ_TARGETS idx_raw idx_gzip cifar_bin image_folder image_cache preset_json sweep_json checkpoint_h5
    set_override)

if(VITBENCH_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "VITBENCH_FUZZ needs clang (libFuzzer): use `cmake --preset fuzz`")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
if(VITBENCH_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()

# Called after the libraries are declared.
function(vitbench_fuzz_targets)
  if(VITBENCH_FUZZ)
    # The dataset targets need harness/data alone (a few files, so they are fuzzing minutes after a fresh
    # configure); the others link the harness and the models.
    set(dir ${CMAKE_SOURCE_DIR}/tests/fuzz)
    file(GLOB data_sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/harness/data/*.cpp)
    add_library(vitbench_fuzz_data STATIC ${data_sources} ${dir}/target_data.cpp ${dir}/support.cpp)
    target_include_directories(vitbench_fuzz_data PUBLIC ${CMAKE_SOURCE_DIR})
    target_link_libraries(vitbench_fuzz_data PUBLIC fmt::fmt OpenMP::OpenMP_CXX ZLIB::ZLIB ${STB_LIBRARY})
    add_library(vitbench_fuzz_harness STATIC ${dir}/target_config.cpp ${dir}/target_checkpoint.cpp ${dir}/support.cpp)
    target_link_libraries(vitbench_fuzz_harness PUBLIC vitbench_harness)
    add_custom_target(fuzz)
    foreach(t ${VITBENCH_FUZZ_TARGETS})
      add_executable(fuzz_${t} ${dir}/libfuzzer_main.cpp)
      target_compile_definitions(fuzz_${t} PRIVATE VITBENCH_FUZZ_TARGET=${t} VITBENCH_FUZZ_NAME="${t}")
      if(t STREQUAL "checkpoint_h5")
        target_compile_definitions(fuzz_${t} PRIVATE VITBENCH_FUZZ_CUSTOM_MUTATOR)
      endif()
      if(t MATCHES "^(idx_raw|idx_gzip|cifar_bin|image_folder|image_cache)$")
        target_link_libraries(fuzz_${t} PRIVATE vitbench_fuzz_data)
      else()
        target_link_libraries(fuzz_${t} PRIVATE vitbench_fuzz_harness)
      endif()
      target_include_directories(fuzz_${t} PRIVATE ${CMAKE_SOURCE_DIR})
      target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
      add_dependencies(fuzz fuzz_${t})
    endforeach()
  endif()
  if(VITBENCH_TSAN)
    # The loader soak (tests/soak/), run by scripts/tsan_soak.sh. harness/data needs nothing else of vitbench,
    # so the tsan tree compiles those few files instead of the models and the whole harness.
    file(GLOB data_sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/harness/data/*.cpp)
    add_executable(loader_soak ${CMAKE_SOURCE_DIR}/tests/soak/loader_soak.cpp ${data_sources})
    target_include_directories(loader_soak PRIVATE ${CMAKE_SOURCE_DIR})
    target_link_libraries(loader_soak PRIVATE fmt::fmt OpenMP::OpenMP_CXX ZLIB::ZLIB ${STB_LIBRARY})
  endif()
  add_test(NAME slow/tsan/loader-soak COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/tsan_soak.sh 60)
  set_tests_properties(slow/tsan/loader-soak PROPERTIES LABELS slow TIMEOUT 3600 SKIP_REGULAR_EXPRESSION "VITBENCH_SKIP:")
  # The time-boxed runs (slow tier, from the release tree): scripts/fuzz.sh builds the fuzz preset when needed
  # and fuzzes a copy of the target's corpus; a crash fails the test and is saved under build/fuzz/crashes/.
  foreach(t ${VITBENCH_FUZZ_TARGETS})
    add_test(NAME slow/fuzz/${t} COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/fuzz.sh ${t} 60)
    # One at a time: they share the fuzz build, and each wants a core.
    set_tests_properties(slow/fuzz/${t} PROPERTIES LABELS slow RESOURCE_LOCK vitbench_fuzz TIMEOUT 3600)
  endforeach()
endfunction()
