if(CARPLB_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(CARPLB_FUZZ)
  # The fuzz preset (clang): every library gets coverage feedback and ASan+UBSan, so a fuzzer
  # learns from the parser's branches, not only from its own harness; every executable links the
  # sanitizer runtimes (fuzzers add -fsanitize=fuzzer for libFuzzer's main).
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
