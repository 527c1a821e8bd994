# SPDX-License-Identifier: MIT
# Fixture of the find_package consumer test: install the build tree into an empty prefix.
#   cmake -DBUILD_DIR=<kexue build dir> -DPREFIX=<prefix> -P install_fresh.cmake
if(NOT BUILD_DIR OR NOT PREFIX)
  message(FATAL_ERROR "usage: cmake -DBUILD_DIR=<dir> -DPREFIX=<dir> -P install_fresh.cmake")
endif()
file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} --prefix ${PREFIX} failed (${rc})")
endif()
