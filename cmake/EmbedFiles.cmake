# k2sim_embed_files(OUTPUT file.cpp FILES a b ...): generates a C++ source that defines
# k2sim::internal::embedded_file(path) returning the text of each listed file (paths relative to the
# source root). Re-generated when a listed file changes.
function(k2sim_embed_files)
  cmake_parse_arguments(ARG "" "OUTPUT" "FILES" ${ARGN})
  set(abs_files)
  foreach(f IN LISTS ARG_FILES)
    list(APPEND abs_files ${CMAKE_SOURCE_DIR}/${f})
  endforeach()
  string(REPLACE ";" "|" files_arg "${ARG_FILES}")
  add_custom_command(
    OUTPUT ${ARG_OUTPUT}
    COMMAND ${CMAKE_COMMAND} -DOUTPUT=${ARG_OUTPUT} -DSOURCE_DIR=${CMAKE_SOURCE_DIR}
            "-DFILES=${files_arg}" -P ${CMAKE_SOURCE_DIR}/cmake/EmbedFilesScript.cmake
    DEPENDS ${abs_files} ${CMAKE_SOURCE_DIR}/cmake/EmbedFilesScript.cmake
    COMMENT "Embedding data files"
    VERBATIM)
  set(K2SIM_EMBEDDED_SOURCE ${ARG_OUTPUT} PARENT_SCOPE)
endfunction()
