# Runs the image-decode fuzzer over generated seeds for a bounded number of inputs.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/corpus)
set(ENV{OPSIS_FUZZ_SEEDS} ${WORK}/seeds)
# Leaks the sanitizer finds inside Debian's own libraries are listed there, each with its reason.
set(ENV{LSAN_OPTIONS} suppressions=${CMAKE_CURRENT_LIST_DIR}/lsan.supp)
execute_process(COMMAND ${TESTS} "[.fuzz-seeds]" RESULT_VARIABLE seeds_rc)
if(NOT seeds_rc EQUAL 0)
  message(FATAL_ERROR "writing fuzz seeds failed")
endif()
# -timeout: a unit running 30 s is a hang; the thin-strip seed takes ~2 s under ASan alone and
# passed 10 s on a machine busy with training.
execute_process(COMMAND ${FUZZER} -runs=200000 -max_total_time=30 -max_len=8192 -rss_limit_mb=1024 -timeout=30
                        ${WORK}/corpus ${WORK}/seeds
                RESULT_VARIABLE fuzz_rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT fuzz_rc EQUAL 0)
  message(FATAL_ERROR "fuzzer found a problem (exit ${fuzz_rc}):\n${err}")
endif()
message(STATUS "fuzzer: 30 s or 200000 inputs, no crash")
