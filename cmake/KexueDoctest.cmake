# SPDX-License-Identifier: MIT
# kexue_discover_doctests(<target> PREFIX <prefix> [LABELS <label>...] [TIMEOUT <seconds>])
#
# Registers every doctest case of <target> as one CTest test named "<prefix><case name>", from the
# program's own --list-test-cases output, refreshed after every link (no CMake re-run needed).
#
# It replaces doctest_discover_tests (doctest 2.4.9, Debian 12), which was tried first and found unsafe:
#  * a case name containing ";" ("copies share data; copy() does not") was split into two CTest tests whose
#    filters match no case, and a doctest run that matches no case exits 0, so the case silently never
#    ran while CTest reported two passes;
#  * an unbalanced "[" in a name breaks CMake's list splitting the same way;
#  * its filters are case-insensitive, so "Foo" also ran "foo".
# Here every name is carried through verbatim (bracket arguments), the filter escapes "\" and "," the way
# doctest's parser expects, matching is case-sensitive, and a run in which no case matched fails.
include_guard(GLOBAL)

set(_KEXUE_DOCTEST_ADD_TESTS_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/KexueDoctestAddTests.cmake")

function(kexue_discover_doctests target)
  cmake_parse_arguments(ARG "" "PREFIX;TIMEOUT" "LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  set(ctest_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_cases.cmake")
  set(include_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_include.cmake")
  string(REPLACE ";" "," labels "${ARG_LABELS}")
  add_custom_command(TARGET ${target} POST_BUILD
    BYPRODUCTS "${ctest_file}"
    COMMAND "${CMAKE_COMMAND}"
            "-DTEST_EXECUTABLE=$<TARGET_FILE:${target}>"
            "-DTEST_WORKING_DIR=${CMAKE_CURRENT_BINARY_DIR}"
            "-DTEST_PREFIX=${ARG_PREFIX}|"  # "|" keeps a trailing space through the generator
            "-DTEST_LABELS=${labels}"
            "-DTEST_TIMEOUT=${ARG_TIMEOUT}"
            "-DCTEST_FILE=${ctest_file}"
            -P "${_KEXUE_DOCTEST_ADD_TESTS_SCRIPT}"
    COMMENT "Listing the doctest cases of ${target}"
    VERBATIM)
  file(WRITE "${include_file}"
    "if(EXISTS \"${ctest_file}\")\n"
    "  include(\"${ctest_file}\")\n"
    "else()\n"
    "  add_test(${target}_NOT_BUILT ${target}_NOT_BUILT)\n"
    "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${include_file}")
endfunction()
