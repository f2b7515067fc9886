# Runs COMMAND (a list), and succeeds only when it exits non-zero and its output contains each of
# EXPECT's parts (substrings separated by '|'): a job that ended through dist::abort, the hang
# watchdog, or mpirun's reaction to a dead rank. Prints how long the job took.
string(TIMESTAMP start "%s")
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE out)
string(TIMESTAMP end "%s")
math(EXPR elapsed "${end} - ${start}")
message("${out}")
if(status EQUAL 0)
  message(FATAL_ERROR "the job exited with status 0; expected a non-zero status")
endif()
string(REPLACE "|" ";" parts "${EXPECT}")
foreach(part IN LISTS parts)
  string(FIND "${out}" "${part}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the job's output does not contain '${part}'")
  endif()
endforeach()
message("the job ended after ${elapsed} s with status ${status} and the expected messages")
