# Warnings as errors for every target of ours: call carplb_warnings(target).
function(carplb_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wshadow=local -Wnon-virtual-dtor)
endfunction()
