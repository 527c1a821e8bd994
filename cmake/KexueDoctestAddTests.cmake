# SPDX-License-Identifier: MIT
# Run after each link of a doctest program (see KexueDoctest.cmake): lists its cases and writes the CTest
# file that registers one test per case.
#   cmake -DTEST_EXECUTABLE=... -DTEST_WORKING_DIR=... -DTEST_PREFIX=... -DTEST_LABELS=a,b
#         -DTEST_TIMEOUT=... -DCTEST_FILE=... -P KexueDoctestAddTests.cmake
cmake_minimum_required(VERSION 3.20)

execute_process(
  COMMAND "${TEST_EXECUTABLE}" --list-test-cases --no-colors=true
  WORKING_DIRECTORY "${TEST_WORKING_DIR}"
  OUTPUT_VARIABLE output
  ERROR_VARIABLE errors
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${TEST_EXECUTABLE} --list-test-cases failed (${result}):\n${output}\n${errors}")
endif()

# Wraps text in a bracket argument that its content cannot close: [==[text]==].
function(_kexue_bracket out text)
  set(eq "=")
  while(text MATCHES "]${eq}]" OR text MATCHES "]${eq}$")
    string(APPEND eq "=")
  endwhile()
  set(${out} "[${eq}[${text}]${eq}]" PARENT_SCOPE)
endfunction()

# CMake list splitting treats ";", "\", "[" and "]" specially; hide them while splitting into lines.
string(ASCII 28 _bs)
string(ASCII 29 _lb)
string(ASCII 30 _rb)
string(ASCII 31 _sc)
string(REPLACE "\\" "${_bs}" output "${output}")
string(REPLACE "[" "${_lb}" output "${output}")
string(REPLACE "]" "${_rb}" output "${output}")
string(REPLACE ";" "${_sc}" output "${output}")
string(REPLACE "\n" ";" lines "${output}")

string(REGEX REPLACE "[|]$" "" TEST_PREFIX "${TEST_PREFIX}")
string(REPLACE "," ";" labels "${TEST_LABELS}")
_kexue_bracket(exe "${TEST_EXECUTABLE}")
_kexue_bracket(wd "${TEST_WORKING_DIR}")
# A run that matched no case ("test cases: 0 | 0 passed | ...") would otherwise pass.
_kexue_bracket(no_case_regex "test cases: +0 [|]")

set(script "")
set(seen "")
set(count 0)
foreach(line IN LISTS lines)
  string(STRIP "${line}" stripped)
  if(stripped STREQUAL "" OR line MATCHES "^${_lb}doctest${_rb} " OR line MATCHES "^==+$")
    continue()
  endif()
  if(line IN_LIST seen)  # duplicate names: the filter runs all of them in one test
    continue()
  endif()
  list(APPEND seen "${line}")
  set(name "${line}")
  foreach(pair "${_bs}|\\" "${_lb}|[" "${_rb}|]" "${_sc}|;")
    string(SUBSTRING "${pair}" 0 1 code)
    string(SUBSTRING "${pair}" 2 1 char)
    string(REPLACE "${code}" "${char}" name "${name}")
  endforeach()
  # doctest splits filters at "," unless escaped, and "\" escapes.
  string(REPLACE "\\" "\\\\" filter "${name}")
  string(REPLACE "," "\\," filter "${filter}")
  _kexue_bracket(test_name "${TEST_PREFIX}${name}")
  _kexue_bracket(filter_arg "--test-case=${filter}")
  string(APPEND script "add_test(${test_name} ${exe} ${filter_arg} --case-sensitive=true)\n")
  string(APPEND script "set_tests_properties(${test_name} PROPERTIES WORKING_DIRECTORY ${wd}"
                       " TIMEOUT ${TEST_TIMEOUT} FAIL_REGULAR_EXPRESSION ${no_case_regex}")
  if(labels)
    string(APPEND script " LABELS \"${labels}\"")
  endif()
  string(APPEND script ")\n")
  math(EXPR count "${count} + 1")
endforeach()

if(count EQUAL 0)
  # Keep an empty suite visible rather than silently registering nothing.
  get_filename_component(target_name "${TEST_EXECUTABLE}" NAME_WE)
  _kexue_bracket(empty_name "${TEST_PREFIX}(no test cases in ${target_name})")
  string(APPEND script "add_test(${empty_name} ${exe})\n")
endif()

file(WRITE "${CTEST_FILE}" "${script}")
