# carplb-agent and carplb-agent-cluster (included by agent/CMakeLists.txt when shells are on).
#
# carplb-agent          standalone CARP speaker: no gRPC/Protobuf/abseil linked (agent RSS with
#                       64 vhids, docs/benchmarks/failover.md). With --controller it execs
#                       carplb-agent-cluster (next to itself, else ${CMAKE_INSTALL_PREFIX}/bin,
#                       or $CARPLB_AGENT_CLUSTER_BINARY) with the same arguments.
# carplb-agent-cluster  the same program with cluster mode (agent/grpc/cluster_mode.h).
# Both are needed in the image; building carplb-agent builds both (tests that start
# carplb-agent in cluster mode depend on carplb-agent only).
include(GNUInstallDirs)

add_executable(carplb-agent-cluster ${CMAKE_CURRENT_LIST_DIR}/main.cc)
target_compile_definitions(carplb-agent-cluster PRIVATE CARPLB_AGENT_CLUSTER=1)
target_link_libraries(carplb-agent-cluster PRIVATE carplb_agent_runtime_daemon carplb_agent_grpc_cluster)

add_executable(carplb-agent ${CMAKE_CURRENT_LIST_DIR}/main.cc)
target_compile_definitions(carplb-agent PRIVATE CARPLB_AGENT_CLUSTER=0
  CARPLB_INSTALL_BINDIR="${CMAKE_INSTALL_FULL_BINDIR}")
target_link_libraries(carplb-agent PRIVATE carplb_agent_runtime_daemon)
add_dependencies(carplb-agent carplb-agent-cluster)

foreach(bin carplb-agent carplb-agent-cluster)
  carplb_warnings(${bin})
  target_compile_definitions(${bin} PRIVATE CARPLB_VERSION="${PROJECT_VERSION}")
  # Record a DT_NEEDED only for shared libraries the agent really uses (fewer mappings, less
  # loader work and RSS; `ldd -u -r build/.../carplb-agent` must print nothing).
  target_link_options(${bin} PRIVATE LINKER:--as-needed)
endforeach()

# Standalone agent memory: link libstdc++/libgcc, yaml-cpp and libcrypto statically into
# carplb-agent (measured in docs/benchmarks/failover.md, "Resources, session 2": 11.4 -> 9.7 MB VmRSS with
# 64 vhids; a shared library costs the pages its relocations, symbol tables and the kernel's
# fault-around touch, a static one only the code actually used). libcrypto serves HMAC-SHA1
# only here (no TLS in standalone mode): an OpenSSL security update needs a rebuild of
# carplb-agent. carplb-agent-cluster keeps the shared libraries (gRPC needs the shared
# libstdc++/libssl anyway). Off, or without the Debian .a files: everything shared.
option(CARPLB_AGENT_STATIC_DEPS "Link libstdc++, yaml-cpp and libcrypto statically into carplb-agent" ON)
if(CARPLB_AGENT_STATIC_DEPS)
  target_link_options(carplb-agent PRIVATE -static-libstdc++ -static-libgcc)
  # The shared libraries come in transitively (OpenSSL::Crypto from carplb_agent_carp, yaml-cpp
  # from the config loader). A link-library feature swaps them, in place, for the archive; the
  # feature must name the replaced item, which --trace-symbol does harmlessly (no such symbol).
  find_library(CARPLB_LIBCRYPTO_ARCHIVE NAMES libcrypto.a)
  find_library(CARPLB_YAMLCPP_ARCHIVE NAMES libyaml-cpp.a)
  if(CARPLB_LIBCRYPTO_ARCHIVE)
    set(CMAKE_LINK_LIBRARY_USING_carplb_static_crypto "LINKER:--trace-symbol=<LIB_ITEM>,${CARPLB_LIBCRYPTO_ARCHIVE}")
    set(CMAKE_LINK_LIBRARY_USING_carplb_static_crypto_SUPPORTED TRUE)
    set_property(TARGET carplb-agent PROPERTY LINK_LIBRARY_OVERRIDE_OpenSSL::Crypto carplb_static_crypto)
  else()
    message(STATUS "carplb-agent: libcrypto.a not found, linking libcrypto shared")
  endif()
  if(CARPLB_YAMLCPP_ARCHIVE AND YAMLCPP_LINK_LIBRARIES)
    set(CMAKE_LINK_LIBRARY_USING_carplb_static_yaml "LINKER:--trace-symbol=<LIB_ITEM>,${CARPLB_YAMLCPP_ARCHIVE}")
    set(CMAKE_LINK_LIBRARY_USING_carplb_static_yaml_SUPPORTED TRUE)
    set_property(TARGET carplb-agent PROPERTY LINK_LIBRARY_OVERRIDE "carplb_static_yaml,${YAMLCPP_LINK_LIBRARIES}")
  else()
    message(STATUS "carplb-agent: libyaml-cpp.a not found, linking yaml-cpp shared")
  endif()
endif()

install(TARGETS carplb-agent carplb-agent-cluster RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
