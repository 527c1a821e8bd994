# SPDX-License-Identifier: MIT
# Included right after find_package(xsimd), by kexue's CMakeLists.txt and by the installed kexueConfig.cmake.
#
# Debian 12's libxsimd-dev 8.1 exports the target `xsimd` with INTERFACE_LINK_LIBRARIES "xtl", but its
# config neither finds xtl nor does the package depend on libxtl-dev, so every program linking xsimd fails
# with "cannot find -lxtl". xtl is header-only and xsimd needs it only for xtl::xcomplex support, which
# kexue does not use. When no `xtl` target can be found, the dangling name is removed from the target.
if(TARGET xsimd AND NOT TARGET xtl)
  get_target_property(_kexue_xsimd_libs xsimd INTERFACE_LINK_LIBRARIES)
  if(_kexue_xsimd_libs AND "xtl" IN_LIST _kexue_xsimd_libs)
    find_package(xtl CONFIG QUIET)
    if(NOT TARGET xtl)
      list(REMOVE_ITEM _kexue_xsimd_libs xtl)
      set_property(TARGET xsimd PROPERTY INTERFACE_LINK_LIBRARIES "${_kexue_xsimd_libs}")
    endif()
  endif()
  unset(_kexue_xsimd_libs)
endif()
