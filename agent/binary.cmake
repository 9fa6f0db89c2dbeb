# carplb-agent executable (included by agent/CMakeLists.txt when shells are on).
add_executable(carplb-agent ${CMAKE_CURRENT_LIST_DIR}/main.cc)
carplb_warnings(carplb-agent)
target_compile_definitions(carplb-agent PRIVATE CARPLB_VERSION="${PROJECT_VERSION}")
target_link_libraries(carplb-agent PRIVATE carplb_agent_runtime_daemon)
# Record a DT_NEEDED only for shared libraries the agent really uses (fewer mappings, less
# loader work and RSS; `ldd -u -r build/.../carplb-agent` must print nothing).
target_link_options(carplb-agent PRIVATE LINKER:--as-needed)
install(TARGETS carplb-agent RUNTIME DESTINATION bin)
