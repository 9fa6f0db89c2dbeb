# The carplb-controller executable (included by controller/CMakeLists.txt when shells are on).
add_executable(carplb-controller ${CMAKE_CURRENT_SOURCE_DIR}/main.cc)
carplb_warnings(carplb-controller)
target_link_libraries(carplb-controller PRIVATE carplb_controller_app)
target_compile_definitions(carplb-controller PRIVATE CARPLB_VERSION="${PROJECT_VERSION}")
