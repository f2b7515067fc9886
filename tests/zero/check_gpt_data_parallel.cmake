# The GPT sample's global batch does not depend on the number of ranks: one process at micro-batch
# 2B and 2 ranks through a launcher at micro-batch B train the same model up to rounding, so the
# validation losses they print (4 decimals; every rank evaluates its share of the same batches)
# are the same text.
# -DTRAIN_GPT=path -DLAUNCH=list (a launcher's command line for 2 ranks, ending in `--`)
# -DWORK_DIR=dir -DBATCH=B "-DARGS=list" (the runs' flags, without --batch and --out)

function(validation_losses name result)  # ARGN: the command
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  list(JOIN ARGN " " line)
  message("--- ${name}: ${line}\n${out}${err}")
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${name}: exited with ${status}")
  endif()
  string(REGEX MATCHALL "validation loss [0-9.]+" losses "${out}")
  list(LENGTH losses count)
  if(count LESS 2)
    message(FATAL_ERROR "${name}: printed ${count} validation losses, expected at least 2")
  endif()
  set(${result} "${losses}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
math(EXPR double_batch "2 * ${BATCH}")
validation_losses(one_rank one ${TRAIN_GPT} ${ARGS} --batch ${double_batch} --out ${WORK_DIR}/one)
validation_losses(two_ranks two ${LAUNCH} ${TRAIN_GPT} ${ARGS} --batch ${BATCH}
                  --out ${WORK_DIR}/two)
if(NOT one STREQUAL two)
  message(FATAL_ERROR "the validation losses differ:\n  1 rank:  ${one}\n  2 ranks: ${two}")
endif()
message("the same validation losses on 1 and 2 ranks: ${two}")
