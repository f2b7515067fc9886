# Launches 2 CPU ranks of /bin/sh through strata-run (TOOL): both ranks must run, a clean job
# exits 0, and a job whose rank 1 fails exits non-zero.
execute_process(COMMAND ${TOOL} --num_procs 2 -- /bin/sh -c "echo rank=$OMPI_COMM_WORLD_RANK"
                RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT status EQUAL 0)
  message(FATAL_ERROR "a clean 2-rank job exited with ${status}")
endif()
foreach(rank 0 1)
  if(NOT out MATCHES "rank=${rank}\n")
    message(FATAL_ERROR "rank ${rank} did not run")
  endif()
endforeach()

execute_process(COMMAND ${TOOL} --num_procs 2 -- /bin/sh -c "exit $OMPI_COMM_WORLD_RANK"
                RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(status EQUAL 0)
  message(FATAL_ERROR "a job whose rank 1 exits 1 gave status 0")
endif()
