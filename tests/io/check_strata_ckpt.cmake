# `strata-ckpt inspect` on good and damaged checkpoints, and `strata-ckpt to-fp32` on an engine's
# checkpoint: exit status, what it prints, and the file to-fp32 writes.
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
expect(0 ARGS --help PATTERNS "Usage: strata-ckpt COMMAND DIR \\[TAG\\]" "to-fp32 DIR \\[TAG\\] OUT.safetensors")

# to-fp32: the f32 masters by module name, byte for byte what the maker wrote from the optimizer;
# with the tag given or taken from `latest`.
expect(0 ARGS to-fp32 ${WORK_DIR}/engine ${WORK_DIR}/fp32.safetensors
       PATTERNS "wrote .*fp32.safetensors: 4 f32 tensors, 67 elements, from 1 optimizer shard")
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK_DIR}/fp32.safetensors
                        ${WORK_DIR}/engine_fp32.safetensors RESULT_VARIABLE differ)
if(differ)
  message(FATAL_ERROR "to-fp32 wrote other bytes than the optimizer's masters")
endif()
expect(0 ARGS to-fp32 ${WORK_DIR}/engine global_step2 ${WORK_DIR}/tagged.safetensors
       PATTERNS "4 f32 tensors")
expect(2 ARGS to-fp32 ${WORK_DIR}/engine PATTERNS "to-fp32 needs the output file")
expect(2 ARGS inspect ${WORK_DIR}/good global_step2 extra PATTERNS "inspect takes DIR \\[TAG\\]")
expect(1 ARGS to-fp32 ${WORK_DIR}/good ${WORK_DIR}/none.safetensors
       PATTERNS "has no \"zero_layout\" section")
