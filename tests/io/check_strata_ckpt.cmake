# `strata-ckpt inspect` on good and damaged checkpoints: exit status and what it prints.
# Run with -DTOOL=<strata-ckpt> -DMAKER=<make_test_checkpoints> -DWORK_DIR=<scratch directory>.
execute_process(COMMAND ${MAKER} ${WORK_DIR} RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "make_test_checkpoints failed: ${status}")
endif()

# expect(STATUS PATTERNS... ARGS args...): runs the tool and checks its exit status and that its
# output (stdout and stderr together) matches every pattern.
function(expect expected_status)
  cmake_parse_arguments(ARG "" "" "PATTERNS;ARGS" ${ARGN})
  execute_process(COMMAND ${TOOL} ${ARG_ARGS} RESULT_VARIABLE status OUTPUT_VARIABLE out
                  ERROR_VARIABLE out)
  if(NOT status EQUAL expected_status)
    message(FATAL_ERROR "strata-ckpt ${ARG_ARGS}: exit status ${status}, expected "
                        "${expected_status}:\n${out}")
  endif()
  foreach(pattern IN LISTS ARG_PATTERNS)
    if(NOT out MATCHES "${pattern}")
      message(FATAL_ERROR "strata-ckpt ${ARG_ARGS}: the output lacks \"${pattern}\":\n${out}")
    endif()
  endforeach()
  message(STATUS "strata-ckpt ${ARG_ARGS}: exit status ${status} as expected")
endfunction()

expect(0 ARGS inspect ${WORK_DIR}/good
       PATTERNS "tag global_step4 \\(latest\\)" "world size 1, ZeRO stage 0"
                "group \"model\" \\(model.safetensors, [0-9]+ bytes, crc32 [0-9a-f]+\\): 3 tensors, 144 elements"
                "wte.weight +F32 +\\[16, 8\\]" "h.0.ln_1.bias +BF16 +\\[8\\]"
                "group \"optimizer\" of rank 0" "\"global_steps\": 4" "\"type\": \"AdamW\""
                "verified 5 files")
expect(0 ARGS inspect ${WORK_DIR}/good global_step2 PATTERNS "tag global_step2," "\"global_steps\": 2")
expect(1 ARGS inspect ${WORK_DIR}/damaged
       PATTERNS "DAMAGED: .*global_step4/model.safetensors\" fails its CRC-32 check"
                "1 of 5 files of .* are damaged")
expect(0 ARGS inspect ${WORK_DIR}/damaged global_step2 PATTERNS "verified 5 files")
expect(1 ARGS inspect ${WORK_DIR}/missing PATTERNS "missing\" does not exist")
expect(1 ARGS inspect ${WORK_DIR}/good global_step3 PATTERNS "there is no tag \"global_step3\"")
expect(2 ARGS inspect PATTERNS "missing the argument DIR")
expect(0 ARGS --help PATTERNS "Usage: strata-ckpt COMMAND DIR \\[TAG\\]")
