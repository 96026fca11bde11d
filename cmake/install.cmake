# install.cmake: what `cmake --install` puts under the prefix: the public
# headers, the static libraries with a CMake package (duroConfig.cmake,
# imported targets duro::worker, duro::client, duro::scheduler,
# duro::testing) and duro.pc.
# The programs (duro, duro-scheduler) install from their own folders.
include(CMakePackageConfigHelpers)

# The public API, listed one by one: every other header under */include/duro
# (aredis.h, keys.h, lua.h, redis.h, http.h, history.h, config.h, json.h,
# clock.h) is internal to Duro's own programs and stays uninstalled. A public
# header includes only public ones; scripts/sdk-check compiles each alone
# from an installed prefix, as C and as C++.
set(DURO_PUBLIC_HEADERS
  common/include/duro/codec.h
  common/include/duro/duration.h
  common/include/duro/errno.h
  common/include/duro/export.h
  common/include/duro/ids.h
  common/include/duro/log.h
  common/include/duro/metrics.h
  common/include/duro/retry.h
  client/include/duro/client.h
  scheduler/include/duro/scheduler.h
  testing/include/duro/testing.h
  worker/include/duro/worker.h)
list(TRANSFORM DURO_PUBLIC_HEADERS PREPEND ${PROJECT_SOURCE_DIR}/)
install(FILES ${DURO_PUBLIC_HEADERS}
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/duro)

# duro::<name> for each library; duro_client_static is the client.
set_target_properties(duro_common PROPERTIES EXPORT_NAME common)
set_target_properties(duro_async PROPERTIES EXPORT_NAME async)
set_target_properties(duro_worker PROPERTIES EXPORT_NAME worker)
set_target_properties(duro_client_static PROPERTIES EXPORT_NAME client)
set_target_properties(duro_scheduler PROPERTIES EXPORT_NAME scheduler)
set_target_properties(duro_testing PROPERTIES EXPORT_NAME testing)
install(TARGETS duro_common duro_async duro_worker duro_client_static
                duro_scheduler duro_testing
  EXPORT duroTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})

set(DURO_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/duro)
install(EXPORT duroTargets NAMESPACE duro:: DESTINATION ${DURO_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/duroConfig.cmake.in
  ${CMAKE_BINARY_DIR}/duroConfig.cmake INSTALL_DESTINATION ${DURO_CMAKE_DIR})
# 0.x: a new minor version may change the API.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/duroConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/duroConfig.cmake
              ${CMAKE_BINARY_DIR}/duroConfigVersion.cmake
  DESTINATION ${DURO_CMAKE_DIR})

# duro.pc finds the prefix relative to itself (CMAKE_INSTALL_LIBDIR may be
# lib or lib/<multiarch>).
file(RELATIVE_PATH DURO_PC_TO_PREFIX
  /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" DURO_PC_TO_PREFIX "${DURO_PC_TO_PREFIX}")
# With DURO_SHARED_CLIENT libduro_client.so sits beside libduro_client.a,
# and -lduro_client would pick the shared one: name the archive instead.
if(DURO_SHARED_CLIENT)
  set(DURO_PC_CLIENT_LIB "-l:libduro_client.a")
else()
  set(DURO_PC_CLIENT_LIB "-lduro_client")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/duro.pc.in
  ${CMAKE_BINARY_DIR}/duro.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/duro.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
