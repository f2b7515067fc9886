# Runs COMMAND (a list), and succeeds only when it exits non-zero and its output contains EXPECT:
# a job that one rank ended through dist::abort.
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE out)
message("${out}")
if(status EQUAL 0)
  message(FATAL_ERROR "the job exited with status 0; expected a non-zero status")
endif()
string(FIND "${out}" "${EXPECT}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "the job's output does not contain '${EXPECT}'")
endif()
message("the job ended with status ${status} and the expected message")
