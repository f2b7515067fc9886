# Resume is exact across processes: train_gpt runs 20 steps straight; then 10 steps that save
# checkpoints (--stop-after 10, as if interrupted, the schedule still spanning 20 steps) and a new
# process that resumes from the latest for the other 10. The train rows of the two metrics.jsonl
# files (step, loss, lr, grad_norm) must be the same text: MetricsLog writes each number in the
# shortest form that reads back to the same double, and the loss is an f32 widened to double, so
# equal text means bit-identical losses.
# -DTRAIN_GPT=command (train_gpt's path, or a list: a launcher's command line ending in it)
# -DWORK_DIR=dir "-DARGS=list" (the run's flags, --steps 20 among them)

function(run_train_gpt name)  # ARGN: flags after ARGS
  execute_process(COMMAND ${TRAIN_GPT} ${ARGS} ${ARGN} RESULT_VARIABLE status
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  list(JOIN ARGS " " args)
  list(JOIN ARGN " " more)
  message("--- ${name}: train_gpt ${args} ${more}\n${out}${err}")
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${name}: train_gpt exited with ${status}")
  endif()
  set(output "${out}" PARENT_SCOPE)
endfunction()

# The train rows of a metrics.jsonl, one list element each.
function(train_rows dir expected_count result)
  file(STRINGS ${dir}/metrics.jsonl rows REGEX "\"split\": \"train\"")
  list(LENGTH rows count)
  if(NOT count EQUAL expected_count)
    message(FATAL_ERROR "${dir}/metrics.jsonl: ${count} train rows, expected ${expected_count}")
  endif()
  set(${result} "${rows}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

run_train_gpt(straight --out ${WORK_DIR}/straight)
train_rows(${WORK_DIR}/straight 20 straight)

run_train_gpt(interrupted --out ${WORK_DIR}/resumed --stop-after 10 --save-dir ${WORK_DIR}/ckpt
              --save-every 4)
train_rows(${WORK_DIR}/resumed 10 interrupted)
file(READ ${WORK_DIR}/ckpt/latest latest)
if(NOT latest MATCHES "^global_step10")
  message(FATAL_ERROR "${WORK_DIR}/ckpt/latest names '${latest}', expected global_step10")
endif()

run_train_gpt(resumed --out ${WORK_DIR}/resumed --resume ${WORK_DIR}/ckpt)
if(NOT output MATCHES "resumed: [^\n]*global_step10, step 10\n")
  message(FATAL_ERROR "the resumed run did not report resuming from global_step10 at step 10")
endif()
train_rows(${WORK_DIR}/resumed 20 resumed)

foreach(i RANGE 19)
  list(GET straight ${i} a)
  list(GET resumed ${i} b)
  if(NOT a STREQUAL b)
    math(EXPR step "${i} + 1")
    message(FATAL_ERROR "step ${step} differs:\n  straight: ${a}\n  resumed:  ${b}")
  endif()
endforeach()
message("the 20 train rows are identical")
